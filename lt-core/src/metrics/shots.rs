//! Many / medium / few-shot accuracy: the mean per-class accuracy of each shot group.

use crate::{Error, Result};

/// Shot group of a class (many > 100, few < 20 training images in the usual rule; the map
/// comes from the dataset manifest): the data side's group type.
pub use lt_data::recipe::Group as Shot;

/// Mean of the per-class accuracies of each shot group (the convention of OLTR, cRT and
/// MiSLAS), percent; `None` for a group without evaluated classes.
pub fn shot_accuracy(per_class: &[Option<f64>], groups: &[Shot]) -> Result<[Option<f64>; 3]> {
    if per_class.len() != groups.len() {
        return Err(Error::Metrics(format!(
            "shot groups given for {} classes, the model has {}",
            groups.len(),
            per_class.len()
        )));
    }
    let mut out = [None; 3];
    for (i, g) in [Shot::Many, Shot::Medium, Shot::Few].iter().enumerate() {
        let v: Vec<f64> = per_class
            .iter()
            .zip(groups)
            .filter(|(_, gg)| *gg == g)
            .filter_map(|(a, _)| *a)
            .collect();
        if !v.is_empty() {
            out[i] = Some(v.iter().sum::<f64>() / v.len() as f64);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shot_accuracy_is_the_mean_of_each_group() {
        let pc = [Some(100.0), Some(50.0), Some(0.0), None];
        let groups = [Shot::Many, Shot::Many, Shot::Few, Shot::Medium];
        // many = mean(100, 50); medium = class 3 has no images -> None; few = 0.
        assert_eq!(
            shot_accuracy(&pc, &groups).unwrap(),
            [Some(75.0), None, Some(0.0)]
        );
        assert!(shot_accuracy(&pc, &groups[..2]).is_err());
    }
}
