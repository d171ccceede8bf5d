//! `${VAR}` and `${VAR:-default}` in a config file, replaced by environment
//! values before the YAML is parsed.
//!
//! Rules (those of Docker Compose and Vector, minus what cannot be checked):
//! - `${NAME}` is NAME's value; NAME unset is an error naming it and where
//!   it stands. Set but empty gives the empty string.
//! - `${NAME:-default}` is the default when NAME is unset or empty.
//! - `$$` is one literal `$` (so `$${NAME}` stays `${NAME}`); a `$` followed
//!   by anything else is left as it is (regexes keep their `$` anchors).
//! - NAME is `[A-Za-z_][A-Za-z0-9_]*`. Nothing nests: `${`, `$` or `{`
//!   inside `${...}` is an error, as is a `${` not closed on its own line.
//! - A value may not hold a line break: substitution works on the text, and
//!   keeping every line where it was keeps YAML errors' line numbers true
//!   (a column after a reference on the same line is the substituted one).
//! - Whole-line comments (first non-blank character `#`) are copied as they
//!   are, so a commented-out `${SETTING}` needs no variable.
//!
//! The substitution is textual: a value holding YAML syntax (`: `, ` #`, a
//! leading `[` or `*`) changes the document unless the reference is quoted,
//! `url: "${COLLECTOR_URL}"`.

use std::fmt;

/// Where and why a reference could not be replaced. Line and column are
/// 1-based; the column counts characters, as YAML errors do.
#[derive(Debug, PartialEq, Eq)]
pub struct InterpolateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InterpolateError {}

/// Replaces every reference in `text`, reading variables through `lookup`
/// (the process environment in production, a map in tests).
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        interpolate_line(line, index + 1, &lookup, &mut out)?;
    }
    Ok(out)
}

fn interpolate_line(
    line: &str,
    line_no: usize,
    lookup: &impl Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), InterpolateError> {
    let chars: Vec<char> = line.chars().collect();
    let error = |at: usize, message: String| InterpolateError {
        line: line_no,
        column: at + 1,
        message,
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i;
                let body_start = i + 2;
                let Some(len) = chars[body_start..].iter().position(|&c| c == '}') else {
                    return Err(error(start, "`${` is not closed by `}` on its line".into()));
                };
                let body: String = chars[body_start..body_start + len].iter().collect();
                if let Some(bad) = body.find(['$', '{']) {
                    let ch = &body[bad..bad + 1];
                    return Err(error(
                        start,
                        format!(
                            "`${{{}`: `{ch}` inside `${{...}}` is not supported (references do not nest)",
                            &body[..=bad]
                        ),
                    ));
                }
                let (name, default) = match body.split_once(":-") {
                    Some((name, default)) => (name, Some(default)),
                    None => (body.as_str(), None),
                };
                if !valid_name(name) {
                    return Err(error(
                        start,
                        format!(
                            "`${{{body}}}`: invalid variable name `{name}` (want letters, digits \
                             and `_`, not starting with a digit; a default is written `${{NAME:-default}}`)"
                        ),
                    ));
                }
                let value = match (lookup(name), default) {
                    (Some(v), Some(d)) if v.is_empty() => d.to_owned(),
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_owned(),
                    (None, None) => {
                        return Err(error(
                            start,
                            format!(
                                "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                            ),
                        ))
                    }
                };
                if value.contains(['\n', '\r']) {
                    return Err(error(
                        start,
                        format!("environment variable `{name}` holds a line break"),
                    ));
                }
                out.push_str(&value);
                i = body_start + len + 1;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.7".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, InterpolateError> {
        interpolate(text, env)
    }

    #[test]
    fn set_variables_are_replaced() {
        assert_eq!(
            run("url: http://${HOST}:8080\n").unwrap(),
            "url: http://10.0.0.7:8080\n"
        );
        assert_eq!(run("a: ${HOST}${HOST}").unwrap(), "a: 10.0.0.710.0.0.7");
        assert_eq!(run("a: '${EMPTY}'\n").unwrap(), "a: ''\n");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(run("a: ${NOPE:-5s}\n").unwrap(), "a: 5s\n");
        assert_eq!(run("a: ${EMPTY:-x}\n").unwrap(), "a: x\n");
        assert_eq!(run("a: ${HOST:-x}\n").unwrap(), "a: 10.0.0.7\n");
        assert_eq!(run("a: ${NOPE:-}\n").unwrap(), "a: \n");
        assert_eq!(
            run("a: ${NOPE:-127.0.0.1:9092}\n").unwrap(),
            "a: 127.0.0.1:9092\n"
        );
    }

    #[test]
    fn unset_without_default_names_variable_line_and_column() {
        let err = run("collector:\n  data_dir: x\n  http:\n    listen: ${LISTEN}\n").unwrap_err();
        assert_eq!((err.line, err.column), (4, 13));
        assert!(err.message.contains("`LISTEN`"), "{}", err.message);
        assert!(err.message.contains("not set"), "{}", err.message);
        // Columns count characters, not bytes.
        let err = run("é: ${X}").unwrap_err();
        assert_eq!((err.line, err.column), (1, 4));
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(run("a: $${HOST}\n").unwrap(), "a: ${HOST}\n");
        assert_eq!(run("a: cost $$5\n").unwrap(), "a: cost $5\n");
        assert_eq!(run("a: $$$${HOST}").unwrap(), "a: $${HOST}");
        assert_eq!(run("a: $$${HOST}").unwrap(), "a: $10.0.0.7");
    }

    #[test]
    fn other_dollars_are_left_alone() {
        let text = "pattern: '^\\d+ done$'\nb: $HOST\nc: a$\nd: $\n";
        assert_eq!(run(text).unwrap(), text);
    }

    #[test]
    fn nesting_and_bad_references_are_rejected() {
        let err = run("a: ${NOPE:-${HOST}}\n").unwrap_err();
        assert!(err.message.contains("do not nest"), "{}", err.message);
        assert!(err.message.starts_with("`${NOPE:-$`"), "{}", err.message);
        assert_eq!((err.line, err.column), (1, 4));
        assert!(run("a: ${A{B}}").unwrap_err().message.contains("nest"));
        assert!(run("a: ${NOPE:-a$b}").unwrap_err().message.contains("nest"));
        let err = run("a: 1\nb: ${HOST\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
        assert!(err.message.contains("not closed"), "{}", err.message);
        assert!(run("a: ${}").unwrap_err().message.contains("invalid"));
        assert!(run("a: ${1X}").unwrap_err().message.contains("invalid"));
        assert!(run("a: ${HOST-x}").unwrap_err().message.contains("invalid"));
    }

    #[test]
    fn line_breaks_in_values_are_rejected() {
        let err = run("a: ${MULTI}").unwrap_err();
        assert!(err.message.contains("MULTI"), "{}", err.message);
    }

    #[test]
    fn whole_line_comments_are_not_interpolated() {
        let text = "# url: ${UNSET}\n  # also ${UNSET}\na: ${HOST} # ${HOST}\n";
        assert_eq!(
            run(text).unwrap(),
            "# url: ${UNSET}\n  # also ${UNSET}\na: 10.0.0.7 # 10.0.0.7\n"
        );
    }
}
