//! A client certificate's subject as Java's `X500Principal.getName()`
//! writes it (RFC 2253), because that string is what Kafka's
//! `ssl.principal.mapping.rules` are written against:
//!
//! - RDNs last first, joined by `,`; the values of a multi-valued RDN
//!   joined by `+` in their encoded order; no spaces.
//! - RFC 2253's keywords only (CN, C, L, ST, O, OU, STREET, DC, UID); any
//!   other attribute, and any value that is not a string, as
//!   `OID=#hex` of the value's DER encoding (lowercase hex).
//! - In values, `, = + < > # ; " \` are escaped with `\`, NUL as `\00`,
//!   and leading and trailing spaces (and CRs) with `\`.
//!
//! Certificates are parsed by x509-parser; nothing here checks a signature
//! (the TLS handshake has done that before a subject is asked for).

use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

use super::AuthError;

/// The subject of the DER certificate `cert` in RFC 2253 form.
pub fn subject_rfc2253(cert: &[u8]) -> Result<String, AuthError> {
    let (_, cert) =
        X509Certificate::from_der(cert).map_err(|e| AuthError::Certificate(e.to_string()))?;
    let rdns: Vec<_> = cert.subject().iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, ava) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_ava(ava, &mut out)?;
        }
    }
    Ok(out)
}

/// RFC 2253's attribute type keywords, by OID (Java's AVAKeyword table,
/// entries marked RFC 2253 compliant).
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The string types Java renders as text.
fn is_string(value: &Any<'_>) -> bool {
    matches!(
        value.tag(),
        Tag::PrintableString
            | Tag::T61String
            | Tag::Ia5String
            | Tag::GeneralString
            | Tag::BmpString
            | Tag::Utf8String
    )
}

fn write_ava(ava: &AttributeTypeAndValue<'_>, out: &mut String) -> Result<(), AuthError> {
    let oid = ava.attr_type().to_id_string();
    let value = ava.attr_value();
    match keyword(&oid) {
        Some(k) if is_string(value) => {
            out.push_str(k);
            out.push('=');
            // Java decodes the content octets as UTF-8 whatever the string
            // type (so a BMPString's zero bytes come out as `\00`).
            escape_value(&String::from_utf8_lossy(value.data), out);
        }
        k => {
            out.push_str(k.unwrap_or(&oid));
            out.push_str("=#");
            let der = value
                .to_der_vec()
                .map_err(|e| AuthError::Certificate(e.to_string()))?;
            for b in der {
                out.push_str(&format!("{b:02x}"));
            }
        }
    }
    Ok(())
}

fn escape_value(value: &str, out: &mut String) {
    let mut chars = Vec::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => chars.extend(['\\', c]),
            '\0' => chars.extend(['\\', '0', '0']),
            c => chars.push(c),
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    for (i, c) in chars.into_iter().enumerate() {
        if i < lead || i >= trail.max(lead) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values: OpenJDK 17's `X500Principal.getName()` for the same
    /// files (see testdata/README.md).
    #[test]
    fn subjects_render_as_java_does() {
        for (der, java) in [
            (&include_bytes!("testdata/plain.der")[..], "CN=app,OU=eng,O=acme,C=US"),
            (
                include_bytes!("testdata/tricky.der"),
                r#"UID=u1,2.5.4.5=#13023432,1.2.840.113549.1.9.1=#160f617070406578616d706c652e636f6d,CN=\#hash \=eq\"q\\back\ ,OU=a\+b\;c\<d\>e,O=Acme\, Inc.,DC=example,DC=com"#,
            ),
            (
                include_bytes!("testdata/multi.der"),
                r"L=Berlin+CN=\ lead space,OU=ops+O=Zürich Ünïcode,C=DE",
            ),
            (
                include_bytes!("testdata/other.der"),
                "CN=x,2.5.4.4=#0c034c6565,2.5.4.42=#0c03416e6e,2.5.4.12=#0c04426f7373,STREET=1 Main St,L=SF,ST=CA",
            ),
        ] {
            assert_eq!(subject_rfc2253(der).unwrap(), java);
        }
    }

    #[test]
    fn values_escape_leading_and_trailing_blanks() {
        let esc = |v: &str| {
            let mut s = String::new();
            escape_value(v, &mut s);
            s
        };
        assert_eq!(esc("  a b  "), r"\ \ a b\ \ ");
        assert_eq!(esc(" "), r"\ ");
        assert_eq!(esc(""), "");
        assert_eq!(esc("a\0b"), r"a\00b");
        assert_eq!(esc("\r#x"), "\\\r\\#x");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(subject_rfc2253(b"not a certificate").is_err());
        let der = include_bytes!("testdata/plain.der");
        assert!(subject_rfc2253(&der[..der.len() / 2]).is_err());
    }
}
