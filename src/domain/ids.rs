//! Typed ids: each kind of row has its own id type over a UUID, so a function that takes
//! `(WorkspaceId, CaseId, TeammateId)` cannot be called with two of them swapped.
//!
//! Nothing outside the Rust types changes: an id is the bare UUID string in JSON, the same column
//! value in both databases, and a `string` of format `uuid` in the API document (`build.rs` tells
//! utoipa to read each of these names as `Uuid`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The id types, and `NAMES`: the list `build.rs` must alias to `Uuid` for utoipa.
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {
        /// The name of every id type.
        pub const NAMES: &[&str] = &[$(stringify!($name)),+];
        $(
        $(#[$doc])*
        #[derive(
            Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, sqlx::Type, ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        // A default id would be a fresh random one, which no caller should get by accident.
        #[allow(clippy::new_without_default)]
        impl $name {
            /// A new id, time-ordered (v7) like every id the store writes.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map($name)
            }
        }
    )+};
}

ids! {
    WorkspaceId;
    TeammateId;
    CaseId;
    /// A message or a note of a case.
    MessageId;
    CustomerId;
    ChannelId;
    TagId;
    SavedReplyId;
    WebhookId;
    /// A notification or outbound job of `notification_jobs`.
    JobId;
    AttachmentId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_bare_uuid_string_in_json() {
        let id = CaseId::new();
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, format!("\"{}\"", id.as_uuid()));
        let back: CaseId = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, id);
        assert!(serde_json::from_str::<CaseId>("{\"0\":1}").is_err());
    }

    #[test]
    fn an_id_reads_and_prints_as_its_uuid() {
        let uuid = Uuid::now_v7();
        let id: TeammateId = uuid.to_string().parse().expect("parses");
        assert_eq!(id, TeammateId::from(uuid));
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(Uuid::from(id), uuid);
        assert_eq!(TeammateId::new().as_uuid().get_version_num(), 7);
    }

    #[test]
    fn junk_is_not_an_id() {
        for junk in [
            "",
            "42",
            "not-a-uuid",
            "0190c7a4-aaaa-7bbb-8ccc-dddddddddddX",
        ] {
            assert!(junk.parse::<WorkspaceId>().is_err(), "{junk}");
            let json = serde_json::to_string(junk).expect("serializes");
            assert!(
                serde_json::from_str::<WorkspaceId>(&json).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn an_id_is_the_column_type_of_its_uuid_in_both_databases() {
        fn same<DB: sqlx::Database>()
        where
            Uuid: sqlx::Type<DB>,
            CaseId: sqlx::Type<DB>,
        {
            assert_eq!(
                <CaseId as sqlx::Type<DB>>::type_info(),
                <Uuid as sqlx::Type<DB>>::type_info()
            );
        }
        same::<sqlx::Sqlite>();
        same::<sqlx::Postgres>();
    }

    #[tokio::test]
    async fn an_id_is_written_and_read_back_as_its_uuid() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let id = CaseId::new();
        let (back, raw): (CaseId, Uuid) = sqlx::query_as("SELECT $1, $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!((back, raw), (id, id.as_uuid()));
    }

    #[test]
    fn build_rs_aliases_every_id_type() {
        let build = include_str!("../../build.rs");
        for name in NAMES {
            assert!(
                build.contains(&format!("\"{name}\"")),
                "build.rs lacks {name}"
            );
        }
    }

    /// A field of an id type is documented as a UUID string, inline, as a `Uuid` field was.
    #[test]
    fn an_id_field_is_a_uuid_string_in_the_api_document() {
        #[derive(ToSchema)]
        #[allow(dead_code)]
        struct Fields {
            workspace: WorkspaceId,
            teammate: TeammateId,
            case: CaseId,
            message: MessageId,
            customer: CustomerId,
            channel: ChannelId,
            tag: TagId,
            saved_reply: SavedReplyId,
            webhook: WebhookId,
            job: JobId,
            attachment: AttachmentId,
            maybe: Option<CaseId>,
            many: Vec<CaseId>,
        }
        #[derive(ToSchema)]
        #[allow(dead_code)]
        struct Plain {
            id: Uuid,
            maybe: Option<Uuid>,
            many: Vec<Uuid>,
        }
        let fields = serde_json::to_value(<Fields as utoipa::PartialSchema>::schema()).unwrap();
        let plain = serde_json::to_value(<Plain as utoipa::PartialSchema>::schema()).unwrap();
        let properties = &fields["properties"];
        assert_eq!(properties.as_object().unwrap().len(), NAMES.len() + 2);
        for (name, schema) in properties.as_object().unwrap() {
            let same = match name.as_str() {
                "maybe" | "many" => &plain["properties"][name],
                _ => &plain["properties"]["id"],
            };
            assert_eq!(schema, same, "{name}");
        }
    }
}
