//! RIDE: routing diverse distribution-aware experts (Wang et al., ICLR 2021). Work in progress (issue 14).
