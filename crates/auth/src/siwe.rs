//! Sign-In with Ethereum messages (EIP-4361): a strict parser that follows the ABNF line by
//! line, and the field checks (domain, URI, chain, nonce, times). No IO and no crypto here.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use iri_string::types::UriStr;

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

/// A parsed message. Text fields keep exactly what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    pub scheme: Option<String>,
    pub domain: String,
    pub address: [u8; 20],
    pub statement: Option<String>,
    pub uri: String,
    pub version: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: String,
    pub expiration_time: Option<String>,
    pub not_before: Option<String>,
    pub request_id: Option<String>,
    pub resources: Vec<String>,
}

/// Why a message is not a well-formed EIP-4361 message; names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SIWE message: {0}")]
pub struct ParseError(pub &'static str);

/// Why a well-formed message is not acceptable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the message's domain has a user part")]
    DomainUserinfo,
    #[error("the message is for another domain")]
    DomainMismatch,
    #[error("the message's URI is not on this site's origin")]
    UriMismatch,
    #[error("the message's chain is not accepted")]
    ChainNotAllowed,
    #[error("the message's nonce is not the expected one")]
    NonceMismatch,
    #[error("the message was issued in the future")]
    IssuedInFuture,
    #[error("the message has expired")]
    Expired,
    #[error("the message is not valid yet")]
    NotYetValid,
}

/// What a message must match. `None` skips a check (test vectors that predate a rule).
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// `host[:port]` exactly as the message must name it.
    pub domain: &'a str,
    /// Origin (`scheme://host[:port]`) the message's URI must share.
    pub uri_origin: Option<&'a url::Url>,
    pub chain_ids: Option<&'a [u64]>,
    pub nonce: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// How far in the future `issued-at` may be (clock skew); `None` skips the check.
    pub issued_at_skew: Option<Duration>,
}

impl SiweMessage {
    pub fn parse(text: &str) -> Result<SiweMessage, ParseError> {
        let mut lines = text.split('\n');
        let mut next = |what: &'static str| lines.next().ok_or(ParseError(what));

        let first = next("preamble")?;
        let authority_part = first.strip_suffix(PREAMBLE).ok_or(ParseError("preamble"))?;
        let (scheme, domain) = match authority_part.split_once("://") {
            Some((scheme, domain)) => {
                if !is_scheme(scheme) {
                    return Err(ParseError("scheme"));
                }
                (Some(scheme.to_owned()), domain)
            }
            None => (None, authority_part),
        };
        if !is_authority(domain) {
            return Err(ParseError("domain"));
        }

        let address_text = next("address")?;
        let address = parse_address(address_text)?;

        if !next("blank line after address")?.is_empty() {
            return Err(ParseError("blank line after address"));
        }
        let statement_or_blank = next("statement")?;
        let statement = if statement_or_blank.is_empty() {
            None
        } else {
            if !statement_or_blank.chars().all(is_statement_char) {
                return Err(ParseError("statement"));
            }
            if !next("blank line after statement")?.is_empty() {
                return Err(ParseError("blank line after statement"));
            }
            Some(statement_or_blank.to_owned())
        };

        let uri = tagged(next("URI")?, "URI: ", "URI")?;
        if !is_uri(uri) {
            return Err(ParseError("URI"));
        }
        let version = tagged(next("Version")?, "Version: ", "Version")?;
        if version != "1" {
            return Err(ParseError("Version"));
        }
        let chain_text = tagged(next("Chain ID")?, "Chain ID: ", "Chain ID")?;
        if chain_text.is_empty() || !chain_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError("Chain ID"));
        }
        let chain_id: u64 = chain_text.parse().map_err(|_| ParseError("Chain ID"))?;
        let nonce = tagged(next("Nonce")?, "Nonce: ", "Nonce")?;
        if nonce.len() < 8 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError("Nonce"));
        }
        let issued_at = tagged(next("Issued At")?, "Issued At: ", "Issued At")?;
        parse_time(issued_at).ok_or(ParseError("Issued At"))?;

        let mut message = SiweMessage {
            scheme,
            domain: domain.to_owned(),
            address,
            statement,
            uri: uri.to_owned(),
            version: version.to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at: issued_at.to_owned(),
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        };

        // Optional fields, each at most once and in this order.
        let mut line = lines.next();
        if let Some(value) = line.and_then(|l| l.strip_prefix("Expiration Time: ")) {
            parse_time(value).ok_or(ParseError("Expiration Time"))?;
            message.expiration_time = Some(value.to_owned());
            line = lines.next();
        }
        if let Some(value) = line.and_then(|l| l.strip_prefix("Not Before: ")) {
            parse_time(value).ok_or(ParseError("Not Before"))?;
            message.not_before = Some(value.to_owned());
            line = lines.next();
        }
        if let Some(value) = line.and_then(|l| l.strip_prefix("Request ID: ")) {
            if !value.chars().all(is_pchar_char) {
                return Err(ParseError("Request ID"));
            }
            message.request_id = Some(value.to_owned());
            line = lines.next();
        }
        if line == Some("Resources:") {
            for resource_line in lines.by_ref() {
                let resource = resource_line
                    .strip_prefix("- ")
                    .ok_or(ParseError("Resources"))?;
                if !is_uri(resource) {
                    return Err(ParseError("Resources"));
                }
                message.resources.push(resource.to_owned());
            }
            if message.resources.is_empty() {
                return Err(ParseError("Resources"));
            }
            line = None;
        }
        if line.is_some() || lines.next().is_some() {
            return Err(ParseError("unexpected content after the last field"));
        }
        Ok(message)
    }

    /// The checksummed (EIP-55) address.
    pub fn address_checksummed(&self) -> String {
        alloy_primitives::Address::from(self.address).to_checksum(None)
    }

    /// Checks every field rule in `expect`, in a fixed order, returning the first failure.
    pub fn check(&self, expect: &Expectations<'_>) -> Result<(), FieldError> {
        if self.domain.contains('@') {
            return Err(FieldError::DomainUserinfo);
        }
        if !self.domain.eq_ignore_ascii_case(expect.domain) {
            return Err(FieldError::DomainMismatch);
        }
        if let Some(origin) = expect.uri_origin {
            let same_origin =
                url::Url::parse(&self.uri).is_ok_and(|uri| uri.origin() == origin.origin());
            if !same_origin {
                return Err(FieldError::UriMismatch);
            }
        }
        if let Some(chains) = expect.chain_ids
            && !chains.contains(&self.chain_id)
        {
            return Err(FieldError::ChainNotAllowed);
        }
        if let Some(nonce) = expect.nonce
            && nonce != self.nonce
        {
            return Err(FieldError::NonceMismatch);
        }
        let now = expect.now;
        if let Some(skew) = expect.issued_at_skew {
            let issued = parse_time(&self.issued_at).ok_or(FieldError::IssuedInFuture)?;
            let skew = chrono::TimeDelta::from_std(skew).unwrap_or(chrono::TimeDelta::zero());
            if issued > now + skew {
                return Err(FieldError::IssuedInFuture);
            }
        }
        if let Some(expiry) = self.expiration_time.as_deref().and_then(parse_time)
            && now >= expiry
        {
            return Err(FieldError::Expired);
        }
        if let Some(not_before) = self.not_before.as_deref().and_then(parse_time)
            && now < not_before
        {
            return Err(FieldError::NotYetValid);
        }
        Ok(())
    }

    /// The instant after which the message may not be used (`expiration-time`), if any.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expiration_time.as_deref().and_then(parse_time)
    }
}

fn tagged<'a>(line: &'a str, tag: &str, what: &'static str) -> Result<&'a str, ParseError> {
    line.strip_prefix(tag).ok_or(ParseError(what))
}

/// `"0x" 40HEXDIG` with a valid EIP-55 checksum.
fn parse_address(text: &str) -> Result<[u8; 20], ParseError> {
    let hex = text.strip_prefix("0x").ok_or(ParseError("address"))?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError("address"));
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(hex, &mut bytes).map_err(|_| ParseError("address"))?;
    if alloy_primitives::Address::from(bytes).to_checksum(None) != text {
        return Err(ParseError("address is not EIP-55 checksummed"));
    }
    Ok(bytes)
}

/// RFC 3339 `date-time`, checked for shape before chrono checks the calendar.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let fraction = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if fraction == 0 {
            return None;
        }
        rest = &rest[1 + fraction..];
    }
    let zone_ok = match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    if !zone_ok {
        return None;
    }
    DateTime::<FixedOffset>::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// An RFC 3986 `authority` and nothing else: it parses as the authority of a URI built
/// around it, with no path, query or fragment left over.
fn is_authority(domain: &str) -> bool {
    if domain.is_empty() || domain.contains(['/', '?', '#']) {
        return false;
    }
    let candidate = format!("x://{domain}");
    UriStr::new(&candidate)
        .is_ok_and(|uri| uri.authority_str() == Some(domain) && uri.path_str().is_empty())
}

/// An RFC 3986 `URI` (absolute, with a scheme).
fn is_uri(text: &str) -> bool {
    !text.is_empty() && UriStr::new(text).is_ok()
}

/// `reserved / unreserved / " "` from RFC 3986, the characters a statement may hold.
fn is_statement_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " -._~:/?#[]@!$&'()*+,;=".contains(c)
}

/// `pchar` (without percent-encoding checks beyond the characters).
fn is_pchar_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c)
}

/// Default tolerance for an `issued-at` slightly ahead of the server's clock.
pub const ISSUED_AT_SKEW: Duration = Duration::from_secs(60);
