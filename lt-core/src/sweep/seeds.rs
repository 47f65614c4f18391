//! The `--seeds` syntax: seeds and inclusive ranges, comma-separated (`0,1,2`, `0-4`, `0-2,7`),
//! each seed once, in the order given.

use super::SweepError;
use std::str::FromStr;

/// The most seeds one sweep takes (a range typo such as `0-10000000` is refused, not run).
pub const MAX_SEEDS: usize = 1000;

/// The seeds of a sweep, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

impl FromStr for Seeds {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, SweepError> {
        let bad = |problem: String| SweepError::Seeds {
            text: text.to_string(),
            problem,
        };
        let mut seeds: Vec<u64> = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (first, last) = range(part).map_err(bad)?;
            if (last - first) as usize >= MAX_SEEDS
                || seeds.len() + ((last - first) as usize) >= MAX_SEEDS
            {
                return Err(bad(format!("more than {MAX_SEEDS} seeds")));
            }
            for s in first..=last {
                if seeds.contains(&s) {
                    return Err(bad(format!("seed {s} is given twice")));
                }
                seeds.push(s);
            }
        }
        Ok(Seeds(seeds))
    }
}

/// `A` or `A-B` (A <= B) as the inclusive range (first, last).
fn range(part: &str) -> Result<(u64, u64), String> {
    let seed = |s: &str| -> Result<u64, String> {
        s.trim().parse::<u64>().map_err(|_| {
            format!("'{part}' is not a seed (a whole number from 0, or a range A-B such as 0-4)")
        })
    };
    match part.split_once('-') {
        _ if part.is_empty() => Err("an empty seed (write seeds as 0,1,2 or 0-4)".into()),
        Some((a, b)) => {
            let (a, b) = (seed(a)?, seed(b)?);
            match a <= b {
                true => Ok((a, b)),
                false => Err(format!(
                    "the range '{part}' is empty (write A-B with A <= B)"
                )),
            }
        }
        None => seed(part).map(|s| (s, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(s: &str) -> Vec<u64> {
        s.parse::<Seeds>().unwrap().0
    }

    fn err(s: &str) -> String {
        s.parse::<Seeds>().unwrap_err().to_string()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(seeds("0,1,2"), [0, 1, 2]);
        assert_eq!(seeds("3"), [3]);
        assert_eq!(seeds("0-4"), [0, 1, 2, 3, 4]);
        assert_eq!(seeds("7, 0-2"), [7, 0, 1, 2]);
        assert_eq!(seeds("5-5"), [5]);
        assert_eq!(seeds("0-999").len(), MAX_SEEDS);
    }

    #[test]
    fn anything_else_is_named() {
        assert_eq!(
            err("0,x"),
            "--seeds '0,x': 'x' is not a seed (a whole number from 0, or a range A-B such as 0-4)"
        );
        assert_eq!(
            err(""),
            "--seeds '': an empty seed (write seeds as 0,1,2 or 0-4)"
        );
        assert!(err("0,,1").contains("an empty seed"));
        assert!(err("-1").contains("'-1' is not a seed"));
        assert!(err("1.5").contains("'1.5' is not a seed"));
        assert_eq!(
            err("3-1"),
            "--seeds '3-1': the range '3-1' is empty (write A-B with A <= B)"
        );
        assert_eq!(err("0,1,0"), "--seeds '0,1,0': seed 0 is given twice");
        assert_eq!(err("0-2,2"), "--seeds '0-2,2': seed 2 is given twice");
        assert_eq!(err("0-1000"), "--seeds '0-1000': more than 1000 seeds");
        assert!(err("0-18446744073709551615").contains("more than 1000 seeds"));
        assert!(err("0-500,501-1000").contains("more than 1000 seeds"));
    }
}
