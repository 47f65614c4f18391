//! Top-1, top-5 and per-class accuracy, percent.

use super::Sample;

fn percent(hit: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * hit as f64 / n as f64
    }
}

/// Top-1 accuracy, percent.
pub fn top1(s: &[Sample]) -> f64 {
    percent(s.iter().filter(|x| x.pred == x.label).count(), s.len())
}

/// Top-5 accuracy, percent.
pub fn top5(s: &[Sample]) -> f64 {
    percent(s.iter().filter(|x| x.top5).count(), s.len())
}

/// Top-1 accuracy of every class, percent; `None` for classes without test images.
pub fn per_class_accuracy(s: &[Sample], num_classes: usize) -> Vec<Option<f64>> {
    let mut hit = vec![0usize; num_classes];
    let mut n = vec![0usize; num_classes];
    for x in s {
        if let Some(c) = usize::try_from(x.label).ok().filter(|&c| c < num_classes) {
            n[c] += 1;
            hit[c] += (x.pred == x.label) as usize;
        }
    }
    hit.iter()
        .zip(&n)
        .map(|(&h, &k)| (k > 0).then(|| percent(h, k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Evaluator;

    #[test]
    fn accuracies_from_probabilities() {
        // 3 classes, 4 images.
        let probs = [
            0.7, 0.2, 0.1, // label 0, correct, conf 0.7
            0.1, 0.3, 0.6, // label 1, wrong (pred 2)
            0.2, 0.5, 0.3, // label 1, correct
            0.4, 0.35, 0.25, // label 2, wrong (pred 0)
        ];
        let mut e = Evaluator::new(3);
        e.add_probs(&probs, &[0, 1, 1, 2]).unwrap();
        let s = e.samples();
        assert_eq!(top1(s), 50.0);
        assert_eq!(
            top5(s),
            100.0,
            "fewer than 5 classes: every label is in the top 5"
        );
        let pc = per_class_accuracy(s, 4);
        assert_eq!(pc, vec![Some(100.0), Some(50.0), Some(0.0), None]);
    }

    #[test]
    fn top5_with_many_classes() {
        let mut e = Evaluator::new(7);
        // Label 6 is 6th most probable -> not in the top 5; label 4 is 5th -> in.
        let row = [0.3f32, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05];
        let probs: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        e.add_probs(&probs, &[6, 4]).unwrap();
        assert_eq!(top5(e.samples()), 50.0);
        assert_eq!(top1(e.samples()), 0.0);
    }
}
