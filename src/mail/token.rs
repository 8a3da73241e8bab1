//! Reply addresses: `reply+{case}-{tag}@{mail domain}`, where `tag` is an HMAC of the workspace
//! and the case under a server secret. Mail to such an address threads into that case, and only
//! if the tag holds for the workspace the mail arrived at: an altered or invented token, or one
//! from another workspace, names no case.

use crate::domain::ids::{CaseId, WorkspaceId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of the tag kept: 80 bits, and the local part stays within RFC 5321's 64.
const TAG_HEX: usize = 20;

#[derive(Clone)]
pub struct ReplyTokens {
    key: Vec<u8>,
}

impl ReplyTokens {
    pub fn new(key: &[u8]) -> Self {
        ReplyTokens { key: key.to_vec() }
    }

    fn tag(&self, workspace_id: WorkspaceId, case_id: CaseId) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"reply-address:");
        mac.update(workspace_id.as_uuid().as_bytes());
        mac.update(case_id.as_uuid().as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(TAG_HEX);
        for b in bytes.iter().take(TAG_HEX / 2) {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// The token (lower case only: some mail systems fold the case of local parts).
    pub fn issue(&self, workspace_id: WorkspaceId, case_id: CaseId) -> String {
        format!(
            "{}-{}",
            case_id.as_uuid().simple(),
            self.tag(workspace_id, case_id)
        )
    }

    pub fn address(&self, workspace_id: WorkspaceId, case_id: CaseId, domain: &str) -> String {
        format!("reply+{}@{domain}", self.issue(workspace_id, case_id))
    }

    /// The case a token names, if its tag holds for `workspace_id`.
    pub fn verify(&self, workspace_id: WorkspaceId, token: &str) -> Option<CaseId> {
        let token = token.to_ascii_lowercase();
        let (case, tag) = token.split_once('-')?;
        let case_id: CaseId = case.parse().ok()?;
        let want = self.tag(workspace_id, case_id);
        // Compared in constant time, so that timing tells nothing about a guessed tag.
        let equal = tag.len() == want.len()
            && tag
                .bytes()
                .zip(want.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        equal.then_some(case_id)
    }

    /// The first verified reply token among `recipients` (`reply+…@domain`, any letter case).
    pub fn find(
        &self,
        workspace_id: WorkspaceId,
        recipients: &[String],
        domain: &str,
    ) -> Option<CaseId> {
        recipients.iter().find_map(|address| {
            let (local, host) = address.rsplit_once('@')?;
            if !host.eq_ignore_ascii_case(domain) {
                return None;
            }
            let token = local.to_ascii_lowercase();
            self.verify(workspace_id, token.strip_prefix("reply+")?)
        })
    }
}

/// Whether `address` is a reply address of `domain` (for the SMTP listener's RCPT check).
pub fn is_reply_address(address: &str, domain: &str) -> bool {
    address.rsplit_once('@').is_some_and(|(local, host)| {
        host.eq_ignore_ascii_case(domain) && local.to_ascii_lowercase().starts_with("reply+")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_case_only_in_its_workspace() {
        let tokens = ReplyTokens::new(b"secret");
        let (ws, other_ws, case) = (WorkspaceId::new(), WorkspaceId::new(), CaseId::new());
        let token = tokens.issue(ws, case);
        assert!(token.len() + "reply+".len() <= 64, "{token}");
        assert_eq!(tokens.verify(ws, &token), Some(case));
        assert_eq!(tokens.verify(ws, &token.to_uppercase()), Some(case));
        assert_eq!(tokens.verify(other_ws, &token), None, "another workspace");
        // Another case id with the same tag, a flipped tag character, a short tag.
        let forged = format!("{}-{}", uuid::Uuid::now_v7().simple(), &token[33..]);
        assert_eq!(tokens.verify(ws, &forged), None);
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            tokens.verify(ws, &String::from_utf8(flipped).unwrap()),
            None
        );
        assert_eq!(tokens.verify(ws, &token[..token.len() - 1]), None);
        assert_eq!(
            ReplyTokens::new(b"other").verify(ws, &token),
            None,
            "another server key"
        );
        let to = vec![
            "Support <help@example.com>".to_string(),
            tokens.address(ws, case, "Inbox.Example.com").to_uppercase(),
        ];
        assert_eq!(tokens.find(ws, &to, "inbox.example.com"), Some(case));
        assert_eq!(tokens.find(ws, &to, "elsewhere.example.com"), None);
    }
}
