//! LADE: label distribution disentangling loss with PC softmax (Hong et al., CVPR 2021). Work in progress (issue 14).
