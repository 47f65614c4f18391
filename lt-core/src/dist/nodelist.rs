//! SLURM host lists (`node[01-04,07],gpu7`) expanded into host names.

/// A host list that does not parse; the message says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodelistError {
    /// A `]` without its `[`.
    #[error("unbalanced ']' at byte {at}")]
    UnbalancedClose { at: usize },
    /// A `[` never closed in the list.
    #[error("unbalanced '['")]
    UnbalancedOpen,
    /// A `[` never closed in one host pattern.
    #[error("unbalanced '[' in {pattern}")]
    Unclosed { pattern: String },
    /// A range that is not `lo-hi` with `lo <= hi` (at most 100,000 apart), or not numbers.
    #[error("bad range '{item}' in {pattern}")]
    BadRange { item: String, pattern: String },
}

/// Expands a SLURM host list such as `node[01-04,07],gpu7` into host names, keeping the zero
/// padding of ranges; several bracket groups in one name expand to their product.
pub fn expand_nodelist(list: &str) -> Result<Vec<String>, NodelistError> {
    let mut hosts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or(NodelistError::UnbalancedClose { at: i })?
            }
            ',' if depth == 0 => {
                expand_host(&list[start..i], &mut hosts)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(NodelistError::UnbalancedOpen);
    }
    expand_host(&list[start..], &mut hosts)?;
    Ok(hosts)
}

fn expand_host(pattern: &str, out: &mut Vec<String>) -> Result<(), NodelistError> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Ok(());
    }
    let Some(open) = pattern.find('[') else {
        out.push(pattern.to_string());
        return Ok(());
    };
    let close =
        pattern[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or_else(|| NodelistError::Unclosed {
                pattern: pattern.to_string(),
            })?;
    let (prefix, body, rest) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    for item in body.split(',') {
        let item = item.trim();
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        let bad = || NodelistError::BadRange {
            item: item.to_string(),
            pattern: pattern.to_string(),
        };
        let a: u64 = lo.parse().map_err(|_| bad())?;
        let b: u64 = hi.parse().map_err(|_| bad())?;
        if b < a || b - a > 100_000 {
            return Err(bad());
        }
        let width = lo.len();
        for n in a..=b {
            let mut tail = Vec::new();
            expand_host(rest, &mut tail)?;
            if tail.is_empty() {
                tail.push(String::new());
            }
            for t in tail {
                out.push(format!("{prefix}{n:0width$}{t}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodelist_expansion() {
        assert_eq!(
            expand_nodelist("node[01-04],gpu7").unwrap(),
            ["node01", "node02", "node03", "node04", "gpu7"]
        );
        assert_eq!(
            expand_nodelist("a[8-10,12]-ib").unwrap(),
            ["a8-ib", "a9-ib", "a10-ib", "a12-ib"]
        );
        assert_eq!(
            expand_nodelist("r[1-2]n[1-2]").unwrap(),
            ["r1n1", "r1n2", "r2n1", "r2n2"]
        );
        assert_eq!(expand_nodelist("single").unwrap(), ["single"]);
        assert!(expand_nodelist("node[01-").is_err());
        assert!(expand_nodelist("node[4-2]").is_err());
        assert!(expand_nodelist("node[x]").is_err());
    }
}
