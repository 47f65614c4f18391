//! BBN: bilateral-branch network with cumulative learning (Zhou et al., CVPR 2020). Work in progress (issue 14).
