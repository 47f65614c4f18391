//! SADE: self-supervised aggregation of diverse experts (Zhang et al., NeurIPS 2022). Work in progress (issue 14).
