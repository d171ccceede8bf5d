//! Who a connection is: a [`Principal`] (`User:NAME`), from SASL, from the
//! client certificate through [`PrincipalMapper`] (Kafka's
//! `ssl.principal.mapping.rules`), or `User:ANONYMOUS`.
//!
//! The mapping rules are parsed with Kafka's own grammar
//! (`SslPrincipalMapper`): a comma-separated list of `DEFAULT` (the whole
//! DN) and `RULE:regex/replacement/[L|U]`; the first rule whose regex
//! matches the whole DN gives the name; no match fails the authentication.
//! The regex is Rust's `regex` syntax, which for rules like Kafka's examples
//! is Java's; look-around and back-references are refused when the rules
//! are parsed. The replacement follows Java's `replaceAll`: `$n` (the
//! longest group number that exists), `${name}`, `\` quoting the next
//! character, and, as Kafka adds, `$n` naming no group is literal text.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::dn;
use super::AuthError;

/// `User:NAME`. Kafka's other principal types are not used by logship.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    name: String,
}

impl Principal {
    pub const ANONYMOUS_NAME: &'static str = "ANONYMOUS";

    pub fn user(name: impl Into<String>) -> Principal {
        Principal { name: name.into() }
    }

    /// `User:ANONYMOUS`: a plaintext listener, or SSL without a client
    /// certificate.
    pub fn anonymous() -> Principal {
        Principal::user(Principal::ANONYMOUS_NAME)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == Principal::ANONYMOUS_NAME
    }

    /// Parses `User:NAME` (NAME not empty; `User:*` is a valid ACL
    /// principal meaning every user).
    pub fn parse(s: &str) -> Result<Principal, String> {
        match s.split_once(':') {
            Some(("User", name)) if !name.is_empty() => Ok(Principal::user(name)),
            _ => Err(format!("principal {s:?} is not of the form User:NAME")),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User:{}", self.name)
    }
}

/// Kafka's `SslPrincipalMapper` grammar, verbatim.
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)";
static RULE_SPLITTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(,\s*|$)")).expect("splitter"));
static RULE_PARSER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\A(?:{RULE_PATTERN})")).expect("parser"));

/// `ssl.principal.mapping.rules`, parsed.
#[derive(Clone, Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
enum Rule {
    Default,
    Regex {
        /// The pattern as written, for replace-all.
        pattern: Regex,
        /// The same pattern anchored at both ends: Java's `matches()`.
        whole: Regex,
        replacement: Vec<Piece>,
        case: Case,
    },
}

#[derive(Clone, Copy, Debug)]
enum Case {
    Keep,
    Lower,
    Upper,
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

impl Default for PrincipalMapper {
    /// `DEFAULT`: the principal name is the whole DN.
    fn default() -> Self {
        PrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl PrincipalMapper {
    /// Parses rules written as for Kafka, e.g.
    /// `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`.
    pub fn parse(rules: &str) -> Result<PrincipalMapper, AuthError> {
        let err = |m: String| AuthError::MappingRule(m);
        let mut parsed = Vec::new();
        for caps in RULE_SPLITTER.captures_iter(rules.trim()) {
            let text = &caps[1];
            let rule = RULE_PARSER
                .captures(text)
                .expect("matches the empty string");
            let end = rule.get(0).map_or(0, |m| m.end());
            if end != text.len() {
                return Err(err(format!(
                    "invalid rule `{text}`, unmatched substring: `{}`",
                    &text[end..]
                )));
            }
            if rule.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(regex), Some(replacement)) = (rule.get(2), rule.get(4)) {
                let regex = regex.as_str();
                let pattern = Regex::new(regex)
                    .map_err(|e| err(format!("rule `{text}`: invalid regex: {e}")))?;
                let whole = Regex::new(&format!(r"\A(?:{regex})\z"))
                    .map_err(|e| err(format!("rule `{text}`: invalid regex: {e}")))?;
                let replacement = parse_replacement(replacement.as_str(), &pattern)
                    .map_err(|e| err(format!("rule `{text}`: {e}")))?;
                let case = match rule.get(6).map(|m| m.as_str()) {
                    Some("L") => Case::Lower,
                    Some("U") => Case::Upper,
                    _ => Case::Keep,
                };
                parsed.push(Rule::Regex {
                    pattern,
                    whole,
                    replacement,
                    case,
                });
            }
            // An empty rule (e.g. between two commas) is ignored, as in Kafka.
        }
        if parsed.is_empty() {
            return Err(err(format!("no rule in {rules:?}")));
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal name for a subject DN (RFC 2253 form), or `None` when
    /// no rule matches: the authentication fails.
    pub fn name_for(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| rule.apply(dn))
    }

    /// The principal for a client certificate (DER): its subject through
    /// the rules. `Err` for an unreadable certificate or no matching rule;
    /// the message names the DN, never key material.
    pub fn principal_for_certificate(&self, cert: &[u8]) -> Result<Principal, AuthError> {
        let subject = dn::subject_rfc2253(cert)?;
        match self.name_for(&subject) {
            Some(name) => Ok(Principal::user(name)),
            None => Err(AuthError::Certificate(format!(
                "no ssl principal mapping rule applies to {subject}"
            ))),
        }
    }
}

impl Rule {
    fn apply(&self, dn: &str) -> Option<String> {
        let Rule::Regex {
            pattern,
            whole,
            replacement,
            case,
        } = self
        else {
            return Some(dn.to_owned());
        };
        if !whole.is_match(dn) {
            return None;
        }
        let name = replace_all(pattern, dn, replacement);
        Some(match case {
            Case::Keep => name,
            Case::Lower => name.to_lowercase(),
            Case::Upper => name.to_uppercase(),
        })
    }
}

/// Java's `String.replaceAll`: after an empty match the search moves one
/// character on, after a non-empty one it resumes at its end (so `.*`
/// replaces twice: the text, then the empty string at its end).
fn replace_all(pattern: &Regex, text: &str, replacement: &[Piece]) -> String {
    let mut out = String::new();
    let (mut copied, mut from) = (0, 0);
    while from <= text.len() {
        let Some(caps) = pattern.captures_at(text, from) else {
            break;
        };
        let m = caps.get(0).expect("group 0");
        out.push_str(&text[copied..m.start()]);
        expand(&caps, replacement, &mut out);
        copied = m.end();
        from = if m.is_empty() {
            match text[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&text[copied..]);
    out
}

fn expand(caps: &Captures<'_>, replacement: &[Piece], out: &mut String) {
    for piece in replacement {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
            Piece::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
        }
    }
}

/// Parses a Java replacement string for `pattern`; see the module docs.
fn parse_replacement(s: &str, pattern: &Regex) -> Result<Vec<Piece>, String> {
    let groups = pattern.captures_len() - 1;
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, quoted)) => text.push(quoted),
                None => return Err("replacement ends with `\\`".to_owned()),
            },
            '$' => {
                let rest = &s[at + 1..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Some(name) = rest.strip_prefix('{') {
                    let Some(end) = name.find('}') else {
                        return Err("unclosed `${` in the replacement".to_owned());
                    };
                    let name = &name[..end];
                    if !pattern.capture_names().any(|n| n == Some(name)) {
                        return Err(format!("no group named {name:?}"));
                    }
                    push_text(&mut pieces, &mut text);
                    pieces.push(Piece::Named(name.to_owned()));
                    for _ in 0..name.len() + 2 {
                        chars.next();
                    }
                } else if digits.is_empty() {
                    return Err("`$` must be followed by a group number or {name}".to_owned());
                } else if groups == 0 && !digits.starts_with('0') {
                    return Err(format!("${digits} names no group: the regex has none"));
                } else if !digits.starts_with('0') && first_group(&digits, groups) > groups {
                    // Kafka quotes a reference to a group that does not
                    // exist: the text stays as written.
                    text.push('$');
                } else {
                    // Java takes the longest prefix that names a group.
                    let mut group = 0;
                    let mut used = 0;
                    for (i, d) in digits.bytes().enumerate() {
                        let next = group * 10 + usize::from(d - b'0');
                        if i > 0 && next > groups {
                            break;
                        }
                        group = next;
                        used += 1;
                    }
                    push_text(&mut pieces, &mut text);
                    pieces.push(Piece::Group(group));
                    for _ in 0..used {
                        chars.next();
                    }
                }
            }
            c => text.push(c),
        }
    }
    push_text(&mut pieces, &mut text);
    Ok(pieces)
}

/// Kafka's reading of `$digits`: drop trailing digits while the number
/// exceeds the group count and has two digits or more.
fn first_group(digits: &str, groups: usize) -> usize {
    let mut d = &digits[..digits.len().min(18)];
    loop {
        let n: usize = d.parse().expect("digits");
        if n <= groups || d.len() < 2 {
            return n;
        }
        d = &d[..d.len() - 1];
    }
}

fn push_text(pieces: &mut Vec<Piece>, text: &mut String) {
    if !text.is_empty() {
        pieces.push(Piece::Text(std::mem::take(text)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(rules: &str, dn: &str) -> Option<String> {
        PrincipalMapper::parse(rules).unwrap().name_for(dn)
    }

    #[test]
    fn principals() {
        assert_eq!(Principal::user("alice").to_string(), "User:alice");
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(Principal::anonymous().is_anonymous());
        assert_eq!(Principal::parse("User:a:b").unwrap().name(), "a:b");
        assert_eq!(Principal::parse("User:*").unwrap().name(), "*");
        for bad in ["alice", "User:", "Group:x", "user:alice", ""] {
            assert!(Principal::parse(bad).is_err(), "{bad}");
        }
    }

    /// The examples of Kafka's docs (security.html, "Customizing SSL User
    /// Name") and its SslPrincipalMapperTest.
    #[test]
    fn kafka_documented_rules() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT";
        assert_eq!(
            map(
                rules,
                "CN=kafka1,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"
            )
            .as_deref(),
            Some("kafka1")
        );
        assert_eq!(
            map(
                rules,
                "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US"
            )
            .as_deref(),
            Some("duke@javasoft")
        );
        assert_eq!(map(rules, "cn=Bob,dc=example").as_deref(), Some("bob"));
        assert_eq!(map(rules, "OU=x,O=y").as_deref(), Some("OU=x,O=y"));
        assert_eq!(
            map("RULE:^CN=(.*),OU=.*$/$1/U", "CN=duke,OU=x").as_deref(),
            Some("DUKE")
        );
        // Whitespace around rules and slashes escaped in the regex.
        assert_eq!(
            map("  RULE:^CN=a\\/b,(.*)$/$1/ ,  DEFAULT ", "CN=a/b,rest").as_deref(),
            Some("rest")
        );
    }

    #[test]
    fn no_matching_rule_fails() {
        let m = PrincipalMapper::parse("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/").unwrap();
        assert_eq!(m.name_for("CN=x,OU=Other"), None);
        assert_eq!(m.name_for("CN=x,OU=ServiceUsers").as_deref(), Some("x"));
        // The regex must match the whole DN, not a part of it.
        assert_eq!(map("RULE:CN=(\\w+)/$1/", "CN=app,OU=eng"), None);
        assert_eq!(map("RULE:CN=(\\w+)/$1/", "CN=app").as_deref(), Some("app"));
        let cert = include_bytes!("testdata/plain.der");
        assert_eq!(
            m.principal_for_certificate(cert).unwrap_err().to_string(),
            "invalid client certificate: no ssl principal mapping rule applies to CN=app,OU=eng,O=acme,C=US"
        );
        let m = PrincipalMapper::parse("RULE:^CN=([^,]+),.*$/$1/").unwrap();
        assert_eq!(
            m.principal_for_certificate(cert).unwrap(),
            Principal::user("app")
        );
        assert_eq!(
            PrincipalMapper::default()
                .principal_for_certificate(cert)
                .unwrap()
                .to_string(),
            "User:CN=app,OU=eng,O=acme,C=US"
        );
    }

    #[test]
    fn java_replacement_semantics() {
        // A group that does not exist stays literal (Kafka's escaping).
        assert_eq!(
            map("RULE:^CN=(\\w+)$/$1@$4/", "CN=a").as_deref(),
            Some("a@$4")
        );
        // The longest group number that exists: $12 is $1 then "2".
        assert_eq!(map("RULE:^CN=(\\w+)$/$12/", "CN=a").as_deref(), Some("a2"));
        assert_eq!(
            map("RULE:^CN=(?<n>\\w+)$/x${n}y/", "CN=a").as_deref(),
            Some("xay")
        );
        assert_eq!(map("RULE:^CN=(\\w+)$/\\$1/", "CN=a").as_deref(), Some("$1"));
        assert_eq!(map("RULE:^CN=\\w+$/$0!/", "CN=a").as_deref(), Some("CN=a!"));
        // Java's replaceAll also replaces the empty match at the end.
        assert_eq!(map("RULE:.*/x/", "CN=a").as_deref(), Some("xx"));
        assert_eq!(map("RULE:^.*$/x/", "CN=a").as_deref(), Some("x"));
        assert_eq!(map("RULE:(a*)/<$1>/", "aa").as_deref(), Some("<aa><>"));
    }

    #[test]
    fn invalid_rules_are_refused() {
        for bad in [
            "RULE:^CN=(.*)$/$1",       // no closing slash
            "RULE:^CN=(.*)$/$1/X",     // unknown case flag
            "RULE:(?<=CN=)x/$1/",      // look-behind: not in Rust's regex
            "RULE:^CN=.*$/$1/",        // $1 without groups
            "RULE:^CN=(.*)$/${nope}/", // unknown named group
            "RULE:^CN=(.*)$/$/",
            "RULE:^CN=(.*)$/a\\/",
            "NONSENSE",
            "",
            " , ",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn default_keeps_any_dn(dn in "\\PC*") {
            prop_assert_eq!(map("DEFAULT", &dn), Some(dn));
        }
    }
}
