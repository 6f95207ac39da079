//! The fleet file. (Skeleton: replaced by the config implementation.)

use std::fmt;

/// All problems found in one fleet file.
#[derive(Debug)]
pub struct ConfigErrors {
    /// One line per problem, `file:line:column: path: message`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}
