//! Replies to the customer and internal notes.

use super::{allow_on_case, badge_changed};
use crate::domain::ids::{AttachmentId, CaseId, MessageId};
use crate::domain::{input, mentions};
use crate::error::Result;
use crate::state::AppState;
use crate::store::{Message, Teammate, Which};

/// Replies and notes are text; this keeps one message well under the 256 KiB body limit.
pub const MAX_BODY: usize = 64 * 1024;

/// A reply (`note == false`) or an internal note, whose `@mentions` notify teammates. Replying
/// is reading: the author's unread marker catches up.
pub async fn post(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    note: bool,
    body: &str,
    attachments: &[AttachmentId],
) -> Result<Message> {
    let what = "viewers cannot write on cases";
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), what).await?;
    if attachments.len() > crate::attachments::MAX_PER_MESSAGE {
        return Err(crate::error::Error::invalid(
            "attachment_ids",
            "at most 20 files",
        ));
    }
    let text = input::body("body", body, MAX_BODY)?;
    let text = text.as_str();
    let ws = actor.workspace_id;
    let mentioned = if note {
        let team = state.store.teammates(ws, None, Which::Active).await?;
        let people: Vec<_> = team
            .iter()
            .map(|t| mentions::Mentionable {
                id: t.id,
                name: &t.name,
                email: &t.email,
            })
            .collect();
        mentions::find(text, &people)
    } else {
        Vec::new()
    };
    let committed = state
        .store
        .add_message(ws, case_id, actor.id, note, text, &mentioned, attachments)
        .await?;
    let message = state.published(committed).await;
    if !note {
        state.store.mark_read(ws, case_id, actor.id).await?;
        badge_changed(state, actor).await;
    }
    Ok(message)
}

/// Queues a reply whose delivery failed for another attempt.
pub async fn retry_delivery(
    state: &AppState,
    actor: &Teammate,
    case_id: CaseId,
    message_id: MessageId,
) -> Result<Message> {
    let what = "viewers cannot send replies";
    allow_on_case(state, actor, case_id, actor.role.can_work_cases(), what).await?;
    let committed = state
        .store
        .retry_delivery(actor.workspace_id, case_id, message_id, actor.id)
        .await?;
    Ok(state.published(committed).await)
}

/// A file a teammate attaches to their next reply or note: its bytes stored, a row that waits
/// for the message (`post` with `attachment_ids`).
pub async fn upload_attachment(
    state: &AppState,
    actor: &Teammate,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<crate::store::Attachment> {
    if !actor.role.can_work_cases() {
        return Err(crate::error::Error::Forbidden(
            "viewers cannot write on cases",
        ));
    }
    if bytes.is_empty() {
        return Err(crate::error::Error::invalid("file", "is empty"));
    }
    let file =
        crate::attachments::store(&state.config.data_dir, filename, content_type, bytes).await?;
    Ok(state
        .store
        .upload_attachment(actor.workspace_id, actor.id, &file)
        .await?)
}
