//! Enums that configurations spell as strings (`amp = "bf16"`, `schedule = "cosine-epoch"`):
//! [`string_enum!`] gives each its serde through `String`, `FromStr`, `Display`, and the
//! one-line error that names the allowed values, so a bad value is refused where the
//! configuration is read (`--set amp: expected "off", "bf16" or "fp16", got "fp8"`).

/// `expected "a", "b" or "c", got "x"`: the error of a value outside `allowed`.
pub fn expected(allowed: &[&str], got: &str) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    let list = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    format!("expected {list}, got \"{got}\"")
}

/// Declares a fieldless enum spelled as strings in configurations:
/// `string_enum! { pub enum Name { A = "a", B = "b", } }`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling in configurations.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::names::expected(&[$($text),+], s)),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> std::result::Result<Self, String> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Serde for an optional value spelled `""` when absent (`model = ""`, `init_checkpoint = ""`),
/// so configurations written before the value was optional read and compare the same.
pub mod empty_is_none {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => v.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<String>,
        T::Error: std::fmt::Display,
    {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        T::try_from(s).map(Some).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    string_enum! {
        /// A test enum.
        enum Three {
            A = "a",
            B = "b-b",
            C = "c",
        }
    }

    #[test]
    fn spellings_round_trip_and_bad_ones_name_the_allowed() {
        for v in Three::ALL {
            assert_eq!(v.as_str().parse::<Three>().unwrap(), *v);
            assert_eq!(String::from(*v), v.to_string());
        }
        assert_eq!(
            "d".parse::<Three>().unwrap_err(),
            "expected \"a\", \"b-b\" or \"c\", got \"d\""
        );
        assert_eq!(super::expected(&["on"], "x"), "expected \"on\", got \"x\"");
        assert_eq!(
            super::expected(&["on", "off"], "x"),
            "expected \"on\" or \"off\", got \"x\""
        );
    }
}
