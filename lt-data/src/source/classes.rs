//! The classes a source's labels must fall in, and how messages name them.

/// The classes a source's labels must fall in: `count` of them, and whose count it is, for
/// messages such as `label 255 of item 17 is outside the 10 classes of fashion-mnist`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    pub count: usize,
    /// Completes "the N classes ...": `of fashion-mnist`, `given by --classes`.
    pub whose: String,
}

impl Classes {
    pub fn new(count: usize, whose: impl Into<String>) -> Self {
        Classes {
            count,
            whose: whose.into(),
        }
    }

    /// Whether `label` names one of the classes.
    pub fn contains(&self, label: u64) -> bool {
        label < self.count as u64
    }

    /// `the 10 classes of fashion-mnist`.
    pub fn describe(&self) -> String {
        format!("the {} classes {}", self.count, self.whose)
    }
}
