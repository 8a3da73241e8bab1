//! The `Store` trait for this backend. Each method is written next to its aggregate, as an
//! inherent method of the same name (which method calls prefer); this file only maps the
//! trait onto them.

use super::*;

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn durability(&self) -> Result<Durability> {
        self.read_durability().await
    }

    async fn create_workspace(
        &self,
        workspace_name: &str,
        owner_name: &str,
        email: &str,
        password_hash: &str,
        ingest_token: &str,
    ) -> Result<Committed<(Workspace, Teammate)>> {
        self.create_workspace(
            workspace_name,
            owner_name,
            email,
            password_hash,
            ingest_token,
        )
        .await
    }

    async fn workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        self.workspace(id).await
    }

    async fn workspace_by_ingest_token(&self, token: &str) -> Result<Option<Workspace>> {
        self.workspace_by_ingest_token(token).await
    }

    async fn update_workspace(
        &self,
        id: WorkspaceId,
        actor_id: TeammateId,
        patch: WorkspacePatch,
    ) -> Result<Committed<Workspace>> {
        self.update_workspace(id, actor_id, patch).await
    }

    async fn set_ingest_token(&self, id: WorkspaceId, token: &str) -> Result<()> {
        self.set_ingest_token(id, token).await
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        self.credentials(email).await
    }

    async fn teammate(&self, workspace_id: WorkspaceId, id: TeammateId) -> Result<Teammate> {
        self.teammate(workspace_id, id).await
    }

    async fn teammates(
        &self,
        workspace_id: WorkspaceId,
        q: Option<&str>,
        which: Which,
    ) -> Result<Vec<Teammate>> {
        self.teammates(workspace_id, q, which).await
    }

    async fn update_teammate(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        role: Option<Role>,
        away: Option<bool>,
    ) -> Result<Committed<Teammate>> {
        self.update_teammate(workspace_id, id, actor_id, role, away)
            .await
    }

    async fn remove_teammate(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        departure: Departure,
    ) -> Result<Committed<usize>> {
        self.remove_teammate(workspace_id, actor_id, departure)
            .await
    }

    async fn prefs(&self, teammate_id: TeammateId) -> Result<NotificationPrefs> {
        self.prefs(teammate_id).await
    }

    async fn set_prefs(&self, teammate_id: TeammateId, p: NotificationPrefs) -> Result<()> {
        self.set_prefs(teammate_id, p).await
    }

    async fn create_token(
        &self,
        teammate_id: TeammateId,
        token_hash: &str,
        kind: TokenKind,
        expires_at: Option<DateTime<Utc>>,
        client: &ClientInfo,
    ) -> Result<Uuid> {
        self.create_token(teammate_id, token_hash, kind, expires_at, client)
            .await
    }

    async fn token_teammate(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        self.token_teammate(token_hash).await
    }

    async fn delete_token(&self, token_hash: &str) -> Result<()> {
        self.delete_token(token_hash).await
    }

    async fn create_invite(&self, i: NewInvite) -> Result<()> {
        self.create_invite(i).await
    }

    async fn pending_invite(&self, token_hash: &str) -> Result<Option<PendingInvite>> {
        self.pending_invite(token_hash).await
    }

    async fn accept_invite(
        &self,
        token_hash: &str,
        password_hash: Option<&str>,
    ) -> Result<Committed<(Workspace, Teammate)>> {
        self.accept_invite(token_hash, password_hash).await
    }

    async fn inbound(
        &self,
        workspace_id: WorkspaceId,
        message: Inbound,
    ) -> Result<Committed<InboundOutcome>> {
        self.inbound(workspace_id, message).await
    }

    async fn cases(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        query: CaseQuery,
    ) -> Result<Vec<Case>> {
        self.cases(workspace_id, viewer, query).await
    }

    async fn counts(&self, workspace_id: WorkspaceId, viewer: TeammateId) -> Result<Counts> {
        self.counts(workspace_id, viewer).await
    }

    async fn case(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: CaseId,
    ) -> Result<Case> {
        self.case(workspace_id, viewer, id).await
    }

    async fn case_detail(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: CaseId,
    ) -> Result<CaseDetail> {
        self.case_detail(workspace_id, viewer, id).await
    }

    async fn assign(
        &self,
        workspace_id: WorkspaceId,
        req: AssignRequest,
    ) -> Result<Committed<Case>> {
        self.assign(workspace_id, req).await
    }

    async fn set_status(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        status: Status,
    ) -> Result<Committed<Case>> {
        self.set_status(workspace_id, case_id, actor_id, status)
            .await
    }

    async fn add_message(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        note: bool,
        body: &str,
        mentions: &[TeammateId],
        attachments: &[AttachmentId],
    ) -> Result<Committed<Message>> {
        self.add_message(
            workspace_id,
            case_id,
            actor_id,
            note,
            body,
            mentions,
            attachments,
        )
        .await
    }

    async fn mark_read(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        teammate_id: TeammateId,
    ) -> Result<()> {
        self.mark_read(workspace_id, case_id, teammate_id).await
    }

    async fn set_follow_up(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<Committed<Case>> {
        self.set_follow_up(workspace_id, case_id, actor_id, due_at)
            .await
    }

    async fn fire_due_follow_ups(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        self.fire_due_follow_ups(now).await
    }

    async fn bulk_reassign(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: TeammateId,
        to: Option<TeammateId>,
    ) -> Result<Committed<usize>> {
        self.bulk_reassign(workspace_id, actor_id, from, to).await
    }

    async fn rules(&self, workspace_id: WorkspaceId) -> Result<Rules> {
        self.rules(workspace_id).await
    }

    async fn set_rules(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        rules: Rules,
    ) -> Result<Committed<Rules>> {
        self.set_rules(workspace_id, actor_id, rules).await
    }

    async fn badge(&self, workspace_id: WorkspaceId, teammate_id: TeammateId) -> Result<Badge> {
        self.badge(workspace_id, teammate_id).await
    }

    async fn badges(
        &self,
        workspace_id: WorkspaceId,
        teammates: &[TeammateId],
    ) -> Result<std::collections::HashMap<TeammateId, Badge>> {
        self.badges(workspace_id, teammates).await
    }

    async fn add_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<PushSubscription> {
        self.add_push_subscription(teammate_id, endpoint, p256dh, auth)
            .await
    }

    async fn remove_push_subscription(
        &self,
        teammate_id: TeammateId,
        endpoint: &str,
    ) -> Result<bool> {
        self.remove_push_subscription(teammate_id, endpoint).await
    }

    async fn push_subscription(&self, id: Uuid) -> Result<Option<PushSubscription>> {
        self.push_subscription(id).await
    }

    async fn delete_push_subscription(&self, id: Uuid) -> Result<()> {
        self.delete_push_subscription(id).await
    }

    async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>> {
        self.claim_jobs(now, limit, lease).await
    }

    async fn job_context(&self, job: &Job) -> Result<JobContext> {
        self.job_context(job).await
    }

    async fn finish_job(&self, id: JobId, outcome: &JobOutcome) -> Result<()> {
        self.finish_job(id, outcome).await
    }

    async fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.job_counts().await
    }

    async fn server_key(&self, name: &str, value: &str) -> Result<String> {
        self.server_key(name, value).await
    }

    async fn last_seq(&self, workspace_id: WorkspaceId) -> Result<i64> {
        self.last_seq(workspace_id).await
    }

    async fn events_since(
        &self,
        workspace_id: WorkspaceId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        self.events_since(workspace_id, since, limit).await
    }

    async fn first_retained_seq(&self, workspace_id: WorkspaceId) -> Result<Option<i64>> {
        self.first_retained_seq(workspace_id).await
    }

    async fn report_histories(
        &self,
        workspace_id: WorkspaceId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::reports::History>> {
        self.report_histories(workspace_id, start, end).await
    }

    async fn sessions(&self, teammate_id: TeammateId) -> Result<Vec<SessionInfo>> {
        self.sessions(teammate_id).await
    }

    async fn delete_session(&self, teammate_id: TeammateId, id: Uuid) -> Result<bool> {
        self.delete_session(teammate_id, id).await
    }

    async fn touch_token(
        &self,
        token_hash: &str,
        client: &ClientInfo,
        stale_before: DateTime<Utc>,
    ) -> Result<()> {
        self.touch_token(token_hash, client, stale_before).await
    }

    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<()> {
        self.record_audit(entry).await
    }

    async fn audit_entries(
        &self,
        workspace_id: WorkspaceId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>> {
        self.audit_entries(workspace_id, query).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.prune_audit(before).await
    }

    async fn sso_config(&self, workspace_id: WorkspaceId) -> Result<Option<SsoConfig>> {
        self.sso_config(workspace_id).await
    }

    async fn sso_config_for_domain(&self, domain: &str) -> Result<Option<SsoConfig>> {
        self.sso_config_for_domain(domain).await
    }

    async fn put_sso_config(&self, config: &SsoConfig) -> Result<()> {
        self.put_sso_config(config).await
    }

    async fn delete_sso_config(&self, workspace_id: WorkspaceId) -> Result<bool> {
        self.delete_sso_config(workspace_id).await
    }

    async fn create_sso_login(
        &self,
        state_hash: &str,
        login: &SsoLogin,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.create_sso_login(state_hash, login, expires_at).await
    }

    async fn take_sso_login(&self, state_hash: &str) -> Result<Option<SsoLogin>> {
        self.take_sso_login(state_hash).await
    }

    async fn teammate_by_email(&self, email: &str) -> Result<Option<Teammate>> {
        self.teammate_by_email(email).await
    }

    async fn was_removed(&self, workspace_id: WorkspaceId, email: &str) -> Result<bool> {
        self.was_removed(workspace_id, email).await
    }

    async fn join_by_sso(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
        email: &str,
        role: Role,
    ) -> Result<Committed<Teammate>> {
        self.join_by_sso(workspace_id, name, email, role).await
    }

    async fn totp(&self, teammate_id: TeammateId) -> Result<Option<Totp>> {
        self.totp(teammate_id).await
    }

    async fn begin_totp(&self, teammate_id: TeammateId, secret: &str) -> Result<()> {
        self.begin_totp(teammate_id, secret).await
    }

    async fn confirm_totp(
        &self,
        teammate_id: TeammateId,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<()> {
        self.confirm_totp(teammate_id, step, recovery_hashes).await
    }

    async fn use_totp_step(&self, teammate_id: TeammateId, step: i64) -> Result<bool> {
        self.use_totp_step(teammate_id, step).await
    }

    async fn use_recovery_code(&self, teammate_id: TeammateId, code_hash: &str) -> Result<bool> {
        self.use_recovery_code(teammate_id, code_hash).await
    }

    async fn delete_totp(&self, teammate_id: TeammateId) -> Result<()> {
        self.delete_totp(teammate_id).await
    }

    async fn saved_replies(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
    ) -> Result<Vec<SavedReply>> {
        self.saved_replies(workspace_id, viewer).await
    }

    async fn saved_reply(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        id: SavedReplyId,
    ) -> Result<SavedReply> {
        self.saved_reply(workspace_id, viewer, id).await
    }

    async fn create_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        owner_id: Option<TeammateId>,
        name: &str,
        body: &str,
    ) -> Result<SavedReply> {
        self.create_saved_reply(workspace_id, owner_id, name, body)
            .await
    }

    async fn update_saved_reply(
        &self,
        workspace_id: WorkspaceId,
        id: SavedReplyId,
        name: Option<&str>,
        body: Option<&str>,
    ) -> Result<SavedReply> {
        self.update_saved_reply(workspace_id, id, name, body).await
    }

    async fn delete_saved_reply(&self, workspace_id: WorkspaceId, id: SavedReplyId) -> Result<()> {
        self.delete_saved_reply(workspace_id, id).await
    }

    async fn tags(&self, workspace_id: WorkspaceId, viewer: TeammateId) -> Result<Vec<ListedTag>> {
        self.tags(workspace_id, viewer).await
    }

    async fn create_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Tag>> {
        self.create_tag(workspace_id, actor_id, admin, name, color)
            .await
    }

    async fn update_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
        name: Option<&str>,
        color: Option<&str>,
    ) -> Result<Committed<Tag>> {
        self.update_tag(workspace_id, actor_id, id, name, color)
            .await
    }

    async fn delete_tag(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: TagId,
    ) -> Result<Committed<()>> {
        self.delete_tag(workspace_id, actor_id, id).await
    }

    async fn tag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        admin: bool,
        name: &str,
        color: Option<&str>,
    ) -> Result<Committed<Case>> {
        self.tag_case(workspace_id, case_id, actor_id, admin, name, color)
            .await
    }

    async fn untag_case(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        tag_id: TagId,
    ) -> Result<Committed<Case>> {
        self.untag_case(workspace_id, case_id, actor_id, tag_id)
            .await
    }

    async fn snooze(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<Case>> {
        self.snooze(workspace_id, case_id, actor_id, until).await
    }

    async fn wake(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        actor_id: TeammateId,
    ) -> Result<Committed<Case>> {
        self.wake(workspace_id, case_id, actor_id).await
    }

    async fn wake_due(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        self.wake_due(now).await
    }

    async fn mark_online(
        &self,
        present: &[(WorkspaceId, TeammateId)],
        until: DateTime<Utc>,
    ) -> Result<()> {
        self.mark_online(present, until).await
    }

    async fn came_online(
        &self,
        workspace_id: WorkspaceId,
        teammate_id: TeammateId,
        until: DateTime<Utc>,
    ) -> Result<Committed<()>> {
        self.came_online(workspace_id, teammate_id, until).await
    }

    async fn fire_breaches(&self, now: DateTime<Utc>) -> Result<Vec<Event>> {
        self.fire_breaches(now).await
    }

    async fn open_cases(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<std::collections::HashMap<TeammateId, i64>> {
        self.open_cases(workspace_id).await
    }

    async fn drain_waiting(&self, limit: i64) -> Result<Vec<Event>> {
        self.drain_waiting(limit).await
    }

    async fn update_teammate_routing(
        &self,
        workspace_id: WorkspaceId,
        id: TeammateId,
        actor_id: TeammateId,
        patch: RoutingPatch,
    ) -> Result<Committed<Teammate>> {
        self.update_teammate_routing(workspace_id, id, actor_id, patch)
            .await
    }

    async fn channels(&self, workspace_id: WorkspaceId) -> Result<Vec<Channel>> {
        self.channels(workspace_id).await
    }

    async fn save_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        channel: ChannelWrite,
    ) -> Result<Committed<Channel>> {
        self.save_channel(workspace_id, actor_id, channel).await
    }

    async fn delete_channel(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        id: ChannelId,
    ) -> Result<Committed<()>> {
        self.delete_channel(workspace_id, actor_id, id).await
    }

    async fn outbound_reply(&self, job: &Job, mail_domain: &str) -> Result<OutboundReply> {
        self.outbound_reply(job, mail_domain).await
    }

    async fn finish_outbound(&self, job: &Job, outcome: &JobOutcome) -> Result<Committed<()>> {
        self.finish_outbound(job, outcome).await
    }

    async fn retry_delivery(
        &self,
        workspace_id: WorkspaceId,
        case_id: CaseId,
        message_id: MessageId,
        actor_id: TeammateId,
    ) -> Result<Committed<Message>> {
        self.retry_delivery(workspace_id, case_id, message_id, actor_id)
            .await
    }

    async fn bounce(
        &self,
        workspace_id: WorkspaceId,
        mail_id: &str,
        reason: &str,
    ) -> Result<Committed<Option<InboundOutcome>>> {
        self.bounce(workspace_id, mail_id, reason).await
    }

    async fn workspace_of_address(&self, address: &str) -> Result<Option<WorkspaceId>> {
        self.workspace_of_address(address).await
    }

    async fn workspace_of_case(&self, case_id: CaseId) -> Result<Option<WorkspaceId>> {
        self.workspace_of_case(case_id).await
    }

    async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        id: AttachmentId,
    ) -> Result<AttachmentFile> {
        self.attachment(workspace_id, id).await
    }

    async fn upload_attachment(
        &self,
        workspace_id: WorkspaceId,
        uploader: TeammateId,
        file: &crate::attachments::StoredFile,
    ) -> Result<Attachment> {
        self.upload_attachment(workspace_id, uploader, file).await
    }

    async fn create_webhook(
        &self,
        workspace_id: WorkspaceId,
        url: &str,
        events: &[String],
        secret: &str,
    ) -> Result<crate::store::Webhook> {
        self.create_webhook(workspace_id, url, events, secret).await
    }

    async fn webhooks(&self, workspace_id: WorkspaceId) -> Result<Vec<crate::store::Webhook>> {
        self.webhooks(workspace_id).await
    }

    async fn delete_webhook(&self, workspace_id: WorkspaceId, id: WebhookId) -> Result<()> {
        self.delete_webhook(workspace_id, id).await
    }

    async fn webhook_deliveries(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        limit: i64,
    ) -> Result<Vec<crate::store::WebhookDelivery>> {
        self.webhook_deliveries(workspace_id, id, limit).await
    }

    async fn resend_webhook_delivery(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        delivery_id: Uuid,
    ) -> Result<crate::store::WebhookDelivery> {
        self.resend_webhook_delivery(workspace_id, id, delivery_id)
            .await
    }

    async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Vec<crate::store::WebhookTarget>> {
        self.claim_webhooks(now, lease).await
    }

    async fn webhook_resends(&self, id: WebhookId) -> Result<Vec<(i64, String)>> {
        self.webhook_resends(id).await
    }

    async fn record_webhook_attempt(
        &self,
        id: WebhookId,
        attempt: &crate::store::Attempt,
        advance: bool,
    ) -> Result<()> {
        self.record_webhook_attempt(id, attempt, advance).await
    }

    async fn release_webhook(
        &self,
        id: WebhookId,
        cursor: i64,
        next_at: DateTime<Utc>,
        failing_since: Option<DateTime<Utc>>,
        active: bool,
    ) -> Result<()> {
        self.release_webhook(id, cursor, next_at, failing_since, active)
            .await
    }

    async fn switch_off_webhook(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookId,
        cursor: i64,
        failing_since: DateTime<Utc>,
    ) -> Result<Committed<()>> {
        self.switch_off_webhook(workspace_id, id, cursor, failing_since)
            .await
    }

    async fn all_email_channels(&self) -> Result<Vec<(WorkspaceId, Channel)>> {
        self.all_email_channels().await
    }

    async fn lease_imap(
        &self,
        channel_id: ChannelId,
        holder: &str,
        lease: std::time::Duration,
    ) -> Result<bool> {
        self.lease_imap(channel_id, holder, lease).await
    }

    async fn release_imap(&self, channel_id: ChannelId, holder: &str) -> Result<()> {
        self.release_imap(channel_id, holder).await
    }

    async fn imap_cursor(&self, channel_id: ChannelId) -> Result<crate::store::ImapCursor> {
        self.imap_cursor(channel_id).await
    }

    async fn reset_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
    ) -> Result<()> {
        self.reset_imap_cursor(channel_id, mailbox, uid_validity)
            .await
    }

    async fn advance_imap_cursor(
        &self,
        channel_id: ChannelId,
        mailbox: &str,
        uid_validity: i64,
        uid: i64,
    ) -> Result<()> {
        self.advance_imap_cursor(channel_id, mailbox, uid_validity, uid)
            .await
    }

    async fn channel_by_id(&self, id: ChannelId) -> Result<(WorkspaceId, Channel)> {
        self.channel_by_id(id).await
    }

    async fn channel_reply(&self, job: &Job) -> Result<crate::store::ChannelReply> {
        self.channel_reply(job).await
    }

    async fn set_provider_id(&self, message_id: MessageId, provider_id: &str) -> Result<()> {
        self.set_provider_id(message_id, provider_id).await
    }

    async fn provider_status(
        &self,
        workspace_id: WorkspaceId,
        provider_id: &str,
        state: DeliveryState,
        error: Option<&str>,
    ) -> Result<Committed<bool>> {
        self.provider_status(workspace_id, provider_id, state, error)
            .await
    }

    async fn export_page(
        &self,
        workspace_id: WorkspaceId,
        kind: ExportKind,
        after: Option<Uuid>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ExportRow>> {
        self.export_page(workspace_id, kind, after, until, limit)
            .await
    }

    async fn customer(&self, workspace_id: WorkspaceId, id: CustomerId) -> Result<Customer> {
        self.customer(workspace_id, id).await
    }

    async fn erase_customer(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        customer_id: CustomerId,
    ) -> Result<Committed<Erasure>> {
        self.erase_customer(workspace_id, actor_id, customer_id)
            .await
    }

    async fn customer_profile(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
    ) -> Result<crate::store::CustomerProfile> {
        self.customer_profile(workspace_id, id).await
    }

    async fn set_customer_notes(
        &self,
        workspace_id: WorkspaceId,
        id: CustomerId,
        notes: &str,
    ) -> Result<()> {
        self.set_customer_notes(workspace_id, id, notes).await
    }

    async fn find_customers(
        &self,
        workspace_id: WorkspaceId,
        q: &str,
        limit: i64,
    ) -> Result<Vec<Customer>> {
        self.find_customers(workspace_id, q, limit).await
    }

    async fn merge_customers(
        &self,
        workspace_id: WorkspaceId,
        actor_id: TeammateId,
        from: CustomerId,
        into: CustomerId,
    ) -> Result<Committed<crate::store::Merge>> {
        self.merge_customers(workspace_id, actor_id, from, into)
            .await
    }

    async fn attachment_bytes_in_use(&self, sha256: &str) -> Result<bool> {
        self.attachment_bytes_in_use(sha256).await
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64> {
        self.prune_events(before).await
    }
}
