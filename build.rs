//! Tells utoipa to document each typed id (`src/domain/ids.rs`) as the `Uuid` it wraps: a
//! string of format `uuid`, inline, exactly as the API document showed these fields before.

fn main() {
    let ids = [
        "WorkspaceId",
        "TeammateId",
        "CaseId",
        "MessageId",
        "CustomerId",
        "ChannelId",
        "TagId",
        "SavedReplyId",
        "WebhookId",
        "JobId",
        "AttachmentId",
    ];
    let config = ids
        .into_iter()
        .fold(utoipa_config::Config::new(), |config, id| {
            config.alias_for(id, "Uuid")
        });
    config.write_to_file();
    println!("cargo::rerun-if-changed=build.rs");
}
