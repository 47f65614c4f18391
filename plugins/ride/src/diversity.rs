//! RIDE's distribution-aware diversity term for one expert: the KL divergence from the
//! (gradient-free) softened distribution of the aggregated logits to the expert's softened
//! distribution, `KL(softmax(z̄/T) || softmax(z_e/T))`, averaged over the batch (PyTorch's
//! `kl_div(log q_e, p̄, reduction='batchmean')`). The temperature is a scalar, or per class
//! `T_c = T_0 v_c` once re-weighting is on; the loss multiplies the term by `mean_c(T_c)^2`.

use lt_plugin::tch::Tensor;
use lt_plugin::Result;

/// The diversity temperature: one value, or one per class [K] with its mean.
pub enum Temperature {
    Scalar(f64),
    PerClass { t: Tensor, mean: f64 },
}

impl Temperature {
    /// `mean_c T_c` (the scalar itself when there is one).
    pub fn mean(&self) -> f64 {
        match self {
            Temperature::Scalar(t) => *t,
            Temperature::PerClass { mean, .. } => *mean,
        }
    }

    /// `z / T`, broadcasting a per-class temperature over the batch.
    fn divide(&self, z: &Tensor) -> Result<Tensor> {
        match self {
            Temperature::Scalar(t) => Ok(z.f_div_scalar(*t)?),
            Temperature::PerClass { t, .. } => {
                let t = t.f_to_device(z.device())?.f_to_kind(z.kind())?;
                Ok(z.f_div(&t.f_unsqueeze(0)?)?)
            }
        }
    }
}

/// `(1/B) sum_b sum_c p̄_bc (log p̄_bc - log q_bc)` with `p̄ = softmax(mean/T)` detached and
/// `q = softmax(expert/T)`; gradients flow to `expert` only.
pub fn diversity_kl(expert: &Tensor, mean: &Tensor, temp: &Temperature) -> Result<Tensor> {
    let kind = expert.kind();
    let log_q = temp.divide(expert)?.f_log_softmax(1, kind)?;
    let log_p = temp.divide(&mean.f_detach()?)?.f_log_softmax(1, kind)?;
    let b = expert.size()[0] as f64;
    let kl = log_p.f_exp()?.f_mul(&log_p.f_sub(&log_q)?)?.f_sum(kind)?;
    Ok(kl.f_div_scalar(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    #[test]
    fn kl_by_hand_scalar_and_per_class() {
        // One sample, 2 classes, expert z = [ln 3, 0] (q = [0.75, 0.25] at T = 1),
        // mean z̄ = [0, 0] (p̄ = [0.5, 0.5]):
        // KL = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.5 ln(4/3) = 0.143841.
        // torch: F.kl_div(F.log_softmax(z, 1), F.softmax(zbar, 1), reduction='batchmean')
        let z = t(&[3f64.ln(), 0.0], 1);
        let zbar = t(&[0.0, 0.0], 1);
        let kl = diversity_kl(&z, &zbar, &Temperature::Scalar(1.0)).unwrap();
        assert!((kl.double_value(&[]) - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-12);
        // T = 2: q = softmax([ln 3 / 2, 0]) = [sqrt3, 1]/(sqrt3 + 1) = [0.633975, 0.366025];
        // KL = 0.5 ln(0.5/0.633975) + 0.5 ln(0.5/0.366025) = 0.5 (-0.237401 + 0.311905) = 0.037252.
        let kl2 = diversity_kl(&z, &zbar, &Temperature::Scalar(2.0)).unwrap();
        let q0 = 3f64.sqrt() / (3f64.sqrt() + 1.0);
        let want = 0.5 * (0.5 / q0).ln() + 0.5 * (0.5 / (1.0 - q0)).ln();
        assert!((kl2.double_value(&[]) - want).abs() < 1e-12);
        assert!((want - 0.037_252).abs() < 1e-6, "{want}");
        // Per class T = [1, 0.5] (mean 0.75): z/T = [ln 3, 0], z̄/T = [0, 0]: same as T = 1.
        let pc = Temperature::PerClass {
            t: Tensor::from_slice(&[1.0, 0.5]),
            mean: 0.75,
        };
        let kl3 = diversity_kl(&z, &t(&[0.0, 0.0], 1), &pc).unwrap();
        assert!((kl3.double_value(&[]) - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-12);
        assert_eq!(pc.mean(), 0.75);
        // Identical distributions: zero.
        let same = diversity_kl(&zbar, &zbar, &Temperature::Scalar(1.5)).unwrap();
        assert!(same.double_value(&[]).abs() < 1e-15);
    }

    #[test]
    fn gradient_flows_to_the_expert_only_and_matches_finite_differences() {
        let e0 = [0.4, -1.0, 0.3, 1.2, 0.1, -0.5];
        let zbar = t(&[0.2, 0.1, -0.3, 0.5, 0.5, 0.0], 2).set_requires_grad(true);
        let temp = Temperature::PerClass {
            t: Tensor::from_slice(&[1.5, 1.2, 0.9]),
            mean: 1.2,
        };
        let e = t(&e0, 2).set_requires_grad(true);
        diversity_kl(&e, &zbar, &temp).unwrap().backward();
        assert!(!zbar.grad().defined(), "the mean distribution is detached");
        let g: Vec<f64> = Vec::try_from(e.grad().reshape([-1])).unwrap();
        let h = 1e-6;
        for i in 0..e0.len() {
            let f = |d: f64| {
                let mut v = e0;
                v[i] += d;
                diversity_kl(&t(&v, 2), &zbar, &temp)
                    .unwrap()
                    .double_value(&[])
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-8, "[{i}] {fd} vs {}", g[i]);
        }
    }
}
