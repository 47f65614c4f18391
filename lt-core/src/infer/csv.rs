//! The CSV of `lt-train predict`: `path`, then `class_i`, `prob_i` for the `k` most probable
//! classes, then optionally `logit_<class>` for every class. Numbers are written in full
//! (Rust's shortest representation that reads back to the same float). Fields holding a comma,
//! a quote or a line break are quoted (RFC 4180).

use super::predict::Prediction;
use crate::Result;
use std::path::Path;

/// The whole CSV text, header first.
pub fn render(preds: &[Prediction], class_names: &[String], k: usize, logits: bool) -> String {
    let mut header = vec!["path".to_string()];
    for i in 1..=k {
        header.push(format!("class_{i}"));
        header.push(format!("prob_{i}"));
    }
    if logits {
        header.extend(class_names.iter().map(|n| format!("logit_{n}")));
    }
    let mut text = line(&header);
    for p in preds {
        let mut row = vec![p.path.to_string_lossy().into_owned()];
        for c in ranked(&p.probs).into_iter().take(k) {
            row.push(class_names.get(c).cloned().unwrap_or_else(|| c.to_string()));
            row.push(p.probs[c].to_string());
        }
        if logits {
            row.extend(p.logits.iter().map(|x| x.to_string()));
        }
        text.push_str(&line(&row));
    }
    text
}

/// Writes `text` to `path` atomically: the file is the whole CSV or is not there.
pub fn write(path: &Path, text: &str) -> Result<()> {
    Ok(lt_data::manifest::write_atomic(path, text.as_bytes())?)
}

/// Class indices by falling probability; ties keep the lower class first, as arg-max does.
fn ranked(probs: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order
}

/// One CSV line, with its line feed.
fn line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| field(f)).collect();
    quoted.join(",") + "\n"
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ranking_quoting_and_full_precision() {
        let p = Prediction {
            path: "a,\"b\".png".into(),
            logits: vec![0.1, 2.5, -1.0],
            probs: vec![0.25, 0.5, 0.25],
        };
        let names: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
        let text = render(&[p], &names, 2, true);
        assert_eq!(
            text,
            "path,class_1,prob_1,class_2,prob_2,logit_x,logit_y,logit_z\n\
             \"a,\"\"b\"\".png\",y,0.5,x,0.25,0.1,2.5,-1\n"
        );
        let third = 1.0f64 / 3.0;
        let p = Prediction {
            path: "p".into(),
            logits: vec![0.1f32 + 0.2],
            probs: vec![third],
        };
        let text = render(&[p], &names[..1], 1, true);
        let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(row[2].parse::<f64>().unwrap(), third);
        assert_eq!(row[3].parse::<f32>().unwrap(), 0.1f32 + 0.2);
    }
}
