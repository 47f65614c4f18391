//! KCL: k-positive contrastive learning (Kang et al., ICLR 2021). Work in progress (issue 14).
