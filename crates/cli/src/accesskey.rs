//! `opendts accesskey create|list|delete`.

use crate::DataDirArg;
use clap::Subcommand;
use opendts_core::ids;
use opendts_core::secret::Secret;
use opendts_core::timefmt::{iso_seconds, now_millis};
use opendts_store::{AccessKey, Store};

#[derive(Subcommand)]
pub enum AccessKeyCommand {
    /// Create an AccessKey and print its ID and secret (the secret is shown only once).
    Create {
        #[command(flatten)]
        dir: DataDirArg,
        /// A name to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
        /// Print one JSON line instead of two text lines.
        #[arg(long)]
        json: bool,
    },
    /// List AccessKeys (never their secrets).
    List {
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Delete an AccessKey: requests signed with it are refused from then on.
    Delete {
        #[command(flatten)]
        dir: DataDirArg,
        /// The AccessKey ID.
        id: String,
    },
}

fn random_byte() -> Result<u8, String> {
    let mut b = [0u8; 1];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(b[0])
}

pub fn run(cmd: AccessKeyCommand) -> Result<(), String> {
    match cmd {
        AccessKeyCommand::Create { dir, name, json } => {
            let store = Store::open(&dir.data_dir).map_err(|e| e.to_string())?;
            let mut failure = None;
            let mut next = || match random_byte() {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    0
                }
            };
            let id = ids::new_access_key_id(&mut next);
            let secret = Secret::new(ids::new_access_key_secret(&mut next));
            if let Some(e) = failure {
                return Err(e);
            }
            let key = AccessKey { id: id.clone(), name, created_ms: now_millis() };
            store.insert_access_key(&key, &secret).map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::json!({"AccessKeyId": id, "AccessKeySecret": secret.expose()}));
            } else {
                println!("AccessKeyId: {id}");
                println!("AccessKeySecret: {}", secret.expose());
            }
            Ok(())
        }
        AccessKeyCommand::List { dir } => {
            let store = Store::open(&dir.data_dir).map_err(|e| e.to_string())?;
            for key in store.list_access_keys().map_err(|e| e.to_string())? {
                println!("{}\t{}\t{}", key.id, iso_seconds(key.created_ms), key.name);
            }
            Ok(())
        }
        AccessKeyCommand::Delete { dir, id } => {
            let store = Store::open(&dir.data_dir).map_err(|e| e.to_string())?;
            if store.delete_access_key(&id).map_err(|e| e.to_string())? {
                println!("deleted {id}");
                Ok(())
            } else {
                Err(format!("no AccessKey {id}"))
            }
        }
    }
}
