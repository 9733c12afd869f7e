//! `Reserve`: the JSON-in-a-string extension parameter of ConfigureDtsJob and
//! ConfigureSubscription (seed §6.4.19.2, catalogue §9.1), plus the old API's
//! `MigrationReserved` keys (§9.2), echoed back as `Reserved` (§9.3).
//!
//! The seed asks for numeric values to be quoted strings; bare JSON numbers
//! are accepted as well, because the seed's own `MigrationReserved` sample
//! sends `"targetTableMode":2`. The documented key list is not exhaustive
//! (responses carry more, §9.3), so keys without a typed field are kept
//! unvalidated in [`Reserve::extra`] rather than rejected.

use serde_json::{Map, Value};

use crate::param::ParamError;

/// `maxRetryTime` when absent: 720 minutes, the value every sample response shows.
pub const DEFAULT_MAX_RETRY_SECONDS: u32 = 43_200;

/// A validated Reserve. Every typed field is `None` when its key is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Reserve {
    /// The object exactly as sent (key order kept), to echo as `Reserved`.
    pub raw: Map<String, Value>,
    /// `targetTableMode`.
    pub target_table_mode: Option<TargetTableMode>,
    /// `autoStartModulesAfterConfig`.
    pub auto_start_modules: Option<AutoStartModules>,
    /// `maxRetryTime`, in seconds.
    pub max_retry_time: Option<u32>,
    /// `destTopic`.
    pub dest_topic: Option<String>,
    /// `destVersion`.
    pub dest_version: Option<KafkaVersion>,
    /// `destSSL`: how to connect to the destination; `0` is a plain
    /// connection. The seed's list of other values is cut off, so any
    /// non-negative integer is kept as given.
    pub dest_ssl: Option<u32>,
    /// `srcSSL`, like `dest_ssl` for the source.
    pub src_ssl: Option<u32>,
    /// `dest.kafka.schema.registry.url`.
    pub schema_registry_url: Option<String>,
    /// `sink.kafka.ddl.topic`; see [`Reserve::kafka_ddl_topic`].
    pub ddl_topic: Option<String>,
    /// `kafkaRecordFormat`.
    pub kafka_record_format: Option<KafkaRecordFormat>,
    /// `destKafkaPartitionKey`.
    pub kafka_partition_key: Option<KafkaPartitionKey>,
    /// `srcEngineArchType` (MongoDB architecture; only `"1"` is documented).
    pub src_engine_arch_type: Option<String>,
    /// `destEngineArchType`.
    pub dest_engine_arch_type: Option<String>,
    /// `srcInstanceId`: CEN instance of a self-managed source.
    pub src_instance_id: Option<String>,
    /// `destInstanceId`: CEN instance of a self-managed destination.
    pub dest_instance_id: Option<String>,
    /// `srcRedisType`.
    pub src_redis_type: Option<RedisType>,
    /// `destRedisType`.
    pub dest_redis_type: Option<RedisType>,
    /// Every other key, unvalidated, in input order.
    pub extra: Map<String, Value>,
}

/// What precheck does when destination tables already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetTableMode {
    /// `"0"`: report an error and stop.
    Block,
    /// `"2"`: ignore the error and continue.
    Ignore,
}

/// `autoStartModulesAfterConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AutoStartModules {
    /// `all`: start precheck and every later step after configuration.
    #[default]
    All,
    /// `none`: wait for the user to start the task.
    None,
}

/// `destVersion`: the Kafka protocol family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaVersion {
    /// `1.0`: Kafka 1.0 and later.
    V1_0,
    V0_9,
    V0_10,
}

/// `kafkaRecordFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaRecordFormat {
    CanalJson,
    DtsAvro,
    SharePlexJson,
    /// Only for PolarDB-O sources.
    Debezium,
}

/// `destKafkaPartitionKey`: how records are spread over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaPartitionKey {
    /// `none`: everything to partition 0.
    PartitionZero,
    /// `database_table`: hash of the database and table names.
    DatabaseTable,
    /// `columns`: hash of the primary key (or a unique key, or chosen columns).
    Columns,
}

/// `srcRedisType` / `destRedisType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisType {
    /// `enterprise`: Alibaba Cloud Redis Enterprise Edition.
    Enterprise,
}

/// Declares `as_str` and a parser over the enum's documented spellings.
macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The value as the API spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            fn from_text(text: &str) -> Option<$ty> {
                match text {
                    $($text => Some($ty::$variant),)+
                    _ => None,
                }
            }

            const SPELLINGS: &'static [&'static str] = &[$($text),+];
        }
    };
}

spelled!(TargetTableMode { Block => "0", Ignore => "2" });
spelled!(AutoStartModules { All => "all", None => "none" });
spelled!(KafkaVersion { V1_0 => "1.0", V0_9 => "0.9", V0_10 => "0.10" });
spelled!(KafkaRecordFormat {
    CanalJson => "canal_json",
    DtsAvro => "dts_avro",
    SharePlexJson => "shareplex_json",
    Debezium => "debezium",
});
spelled!(KafkaPartitionKey {
    PartitionZero => "none",
    DatabaseTable => "database_table",
    Columns => "columns",
});
spelled!(RedisType { Enterprise => "enterprise" });

impl Reserve {
    /// Parses and validates a Reserve string.
    pub fn parse(json: &str) -> Result<Reserve, ParamError> {
        let raw = match serde_json::from_str(json) {
            Ok(Value::Object(raw)) => raw,
            Ok(other) => {
                return Err(ParamError::new(
                    "Reserve",
                    format!("must be a JSON object, not {}", kind(&other)),
                ))
            }
            Err(e) => return Err(ParamError::new("Reserve", format!("is not valid JSON: {e}"))),
        };
        let mut fields = Fields { raw: &raw, used: Vec::new() };
        let reserve = Reserve {
            target_table_mode: fields.spelled(
                "targetTableMode",
                TargetTableMode::from_text,
                TargetTableMode::SPELLINGS,
            )?,
            auto_start_modules: fields.spelled(
                "autoStartModulesAfterConfig",
                AutoStartModules::from_text,
                AutoStartModules::SPELLINGS,
            )?,
            max_retry_time: fields.positive_seconds("maxRetryTime")?,
            dest_topic: fields.text("destTopic")?,
            dest_version: fields.spelled(
                "destVersion",
                KafkaVersion::from_text,
                KafkaVersion::SPELLINGS,
            )?,
            dest_ssl: fields.unsigned("destSSL")?,
            src_ssl: fields.unsigned("srcSSL")?,
            schema_registry_url: fields.url("dest.kafka.schema.registry.url")?,
            ddl_topic: fields.text("sink.kafka.ddl.topic")?,
            kafka_record_format: fields.spelled(
                "kafkaRecordFormat",
                KafkaRecordFormat::from_text,
                KafkaRecordFormat::SPELLINGS,
            )?,
            kafka_partition_key: fields.spelled(
                "destKafkaPartitionKey",
                KafkaPartitionKey::from_text,
                KafkaPartitionKey::SPELLINGS,
            )?,
            src_engine_arch_type: fields.scalar("srcEngineArchType")?,
            dest_engine_arch_type: fields.scalar("destEngineArchType")?,
            src_instance_id: fields.text("srcInstanceId")?,
            dest_instance_id: fields.text("destInstanceId")?,
            src_redis_type: fields.spelled(
                "srcRedisType",
                RedisType::from_text,
                RedisType::SPELLINGS,
            )?,
            dest_redis_type: fields.spelled(
                "destRedisType",
                RedisType::from_text,
                RedisType::SPELLINGS,
            )?,
            // Both filled in below, once `fields` no longer borrows `raw`.
            raw: Map::new(),
            extra: Map::new(),
        };
        let extra = raw
            .iter()
            .filter(|(key, _)| !fields.used.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(Reserve { extra, raw, ..reserve })
    }

    /// `maxRetryTime`, or its default of 43200 seconds (720 minutes).
    pub fn max_retry_seconds(&self) -> u32 {
        self.max_retry_time.unwrap_or(DEFAULT_MAX_RETRY_SECONDS)
    }

    /// `autoStartModulesAfterConfig`, or its default `all`.
    pub fn auto_start(&self) -> AutoStartModules {
        self.auto_start_modules.unwrap_or_default()
    }

    /// The topic for DDL records: `sink.kafka.ddl.topic`, else `destTopic`.
    pub fn kafka_ddl_topic(&self) -> Option<&str> {
        self.ddl_topic.as_deref().or(self.dest_topic.as_deref())
    }
}

/// Reads typed keys from the object, remembering which ones it consumed so
/// the rest can go to `extra`.
struct Fields<'r> {
    raw: &'r Map<String, Value>,
    used: Vec<&'static str>,
}

impl Fields<'_> {
    fn get(&mut self, key: &'static str) -> Option<&Value> {
        self.used.push(key);
        self.raw.get(key)
    }

    /// A string or a number, as text.
    fn scalar(&mut self, key: &'static str) -> Result<Option<String>, ParamError> {
        let text = match self.get(key) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(error(key, format!("must be a string, not {}", kind(other))))
            }
        };
        if text.is_empty() {
            return Err(error(key, "must not be empty"));
        }
        Ok(Some(text))
    }

    /// A string that is a name (topic, instance ID): numbers are refused.
    fn text(&mut self, key: &'static str) -> Result<Option<String>, ParamError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(error(key, "must not be empty")),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(error(key, format!("must be a string, not {}", kind(other)))),
        }
    }

    fn url(&mut self, key: &'static str) -> Result<Option<String>, ParamError> {
        let url = self.text(key)?;
        if url.as_deref().is_some_and(|u| u.contains(char::is_whitespace)) {
            return Err(error(key, "must be a URL or an IP address without spaces"));
        }
        Ok(url)
    }

    fn spelled<T>(
        &mut self,
        key: &'static str,
        from_text: fn(&str) -> Option<T>,
        spellings: &[&str],
    ) -> Result<Option<T>, ParamError> {
        let Some(text) = self.scalar(key)? else {
            return Ok(None);
        };
        match from_text(&text) {
            Some(value) => Ok(Some(value)),
            None => {
                let allowed: Vec<String> = spellings.iter().map(|s| format!("\"{s}\"")).collect();
                Err(error(
                    key,
                    format!("'{text}' is not allowed; use one of {}", allowed.join(", ")),
                ))
            }
        }
    }

    fn unsigned(&mut self, key: &'static str) -> Result<Option<u32>, ParamError> {
        let Some(text) = self.scalar(key)? else {
            return Ok(None);
        };
        text.parse::<u32>().map(Some).map_err(|_| {
            error(key, format!("'{text}' must be a non-negative integer such as \"0\""))
        })
    }

    fn positive_seconds(&mut self, key: &'static str) -> Result<Option<u32>, ParamError> {
        match self.unsigned(key) {
            Ok(Some(0)) | Err(_) => Err(error(
                key,
                format!(
                    "must be a positive whole number of seconds (default {DEFAULT_MAX_RETRY_SECONDS}), \
                     at most {}",
                    u32::MAX
                ),
            )),
            other => other,
        }
    }
}

fn error(key: &str, reason: impl Into<String>) -> ParamError {
    ParamError::new(format!("Reserve.{key}"), reason)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA_EXAMPLE: &str = r#"{"destTopic":"dtstestdata","destVersion":"1.0","destSSL":"0","dest.kafka.schema.registry.url":"http://12.1.12.3/api","sink.kafka.ddl.topic":"dtstestdata","kafkaRecordFormat":"canal_json","destKafkaPartitionKey":"none"}"#;

    fn parse(json: &str) -> Reserve {
        Reserve::parse(json).unwrap()
    }

    fn field(json: &str) -> String {
        let err = Reserve::parse(json).unwrap_err();
        assert!(!err.reason.is_empty());
        eprintln!("{}: {}", err.field, err.reason);
        err.field
    }

    #[test]
    fn kafka_example() {
        let r = parse(KAFKA_EXAMPLE);
        assert_eq!(r.dest_topic.as_deref(), Some("dtstestdata"));
        assert_eq!(r.dest_version, Some(KafkaVersion::V1_0));
        assert_eq!(r.dest_ssl, Some(0));
        assert_eq!(r.schema_registry_url.as_deref(), Some("http://12.1.12.3/api"));
        assert_eq!(r.kafka_ddl_topic(), Some("dtstestdata"));
        assert_eq!(r.kafka_record_format, Some(KafkaRecordFormat::CanalJson));
        assert_eq!(r.kafka_partition_key, Some(KafkaPartitionKey::PartitionZero));
        assert!(r.extra.is_empty());
        assert_eq!(r.raw.keys().next().map(String::as_str), Some("destTopic"));
        assert_eq!(r.raw.len(), 7);
    }

    #[test]
    fn seed_single_key_examples() {
        assert_eq!(
            parse(r#"{"targetTableMode":"0"}"#).target_table_mode,
            Some(TargetTableMode::Block)
        );
        assert_eq!(
            parse(r#"{"targetTableMode":"2"}"#).target_table_mode,
            Some(TargetTableMode::Ignore)
        );
        assert_eq!(
            parse(r#"{"srcEngineArchType":"1"}"#).src_engine_arch_type.as_deref(),
            Some("1")
        );
        assert_eq!(
            parse(r#"{"destEngineArchType":"1"}"#).dest_engine_arch_type.as_deref(),
            Some("1")
        );
        assert_eq!(
            parse(r#"{"srcInstanceId":"cen-9kqshqum******"}"#).src_instance_id.as_deref(),
            Some("cen-9kqshqum******")
        );
        assert_eq!(
            parse(r#"{"destInstanceId":"cen-9kqshqum******"}"#).dest_instance_id.as_deref(),
            Some("cen-9kqshqum******")
        );
    }

    #[test]
    fn migration_reserved_example_with_bare_number() {
        let r = parse(r#"{"autoStartModulesAfterConfig":"none","targetTableMode":2}"#);
        assert_eq!(r.auto_start(), AutoStartModules::None);
        assert_eq!(r.target_table_mode, Some(TargetTableMode::Ignore));
        let r = parse(r#"{"srcRedisType":"enterprise","destRedisType":"enterprise"}"#);
        assert_eq!(
            (r.src_redis_type, r.dest_redis_type),
            (Some(RedisType::Enterprise), Some(RedisType::Enterprise))
        );
    }

    #[test]
    fn defaults() {
        let r = parse("{}");
        assert_eq!(r.max_retry_seconds(), 43_200);
        assert_eq!(r.auto_start(), AutoStartModules::All);
        assert_eq!(r.kafka_ddl_topic(), None);
        assert_eq!(r.target_table_mode, None);
        let r = parse(r#"{"destTopic":"t"}"#);
        assert_eq!(r.kafka_ddl_topic(), Some("t"));
        let r = parse(r#"{"destTopic":"t","sink.kafka.ddl.topic":"ddl"}"#);
        assert_eq!(r.kafka_ddl_topic(), Some("ddl"));
    }

    #[test]
    fn numbers_may_be_strings_or_bare() {
        assert_eq!(parse(r#"{"maxRetryTime":"600"}"#).max_retry_seconds(), 600);
        assert_eq!(parse(r#"{"maxRetryTime":43200}"#).max_retry_time, Some(43_200));
        assert_eq!(parse(r#"{"destSSL":0,"srcSSL":"3"}"#).src_ssl, Some(3));
        assert_eq!(parse(r#"{"destVersion":1.0}"#).dest_version, Some(KafkaVersion::V1_0));
        assert_eq!(parse(r#"{"destVersion":0.9}"#).dest_version, Some(KafkaVersion::V0_9));
        assert_eq!(parse(r#"{"destVersion":"0.10"}"#).dest_version, Some(KafkaVersion::V0_10));
        assert_eq!(parse(r#"{"srcEngineArchType":1}"#).src_engine_arch_type.as_deref(), Some("1"));
    }

    #[test]
    fn response_keys_and_unknown_keys_are_kept() {
        let json = r#"{"srcHostPorts":"","whitelist.dms.online.ddl.enable":false,"filterDDL":false,
            "sqlparser.dms.original.ddl":true,"srcOracleType":"sid","destOracleType":"sid",
            "maxRetryTime":43200,"srcSSL":"0","destSSL":"0","dbListCaseChangeMode":"default",
            "SourceEngineVersion":"8.0.18","srcNetType":"VPC","destNetType":"VPC",
            "srcVpcNetMappingInst":"172.16.1**.**:10803","useJobTask":"1",
            "configKeyMap":[{"moduleCode":"03"}],"somethingNew":{"a":1}}"#;
        let r = parse(json);
        assert_eq!(r.max_retry_time, Some(43_200));
        assert_eq!(r.src_ssl, Some(0));
        assert_eq!(r.extra.len(), 14);
        assert_eq!(r.extra["filterDDL"], Value::Bool(false));
        assert_eq!(r.extra["somethingNew"]["a"], 1);
        assert!(!r.extra.contains_key("maxRetryTime"));
        assert_eq!(r.extra.keys().next().map(String::as_str), Some("srcHostPorts"));
        assert_eq!(r.raw.len(), 17);
    }

    #[test]
    fn as_str_spells_values_back() {
        assert_eq!(TargetTableMode::Ignore.as_str(), "2");
        assert_eq!(AutoStartModules::None.as_str(), "none");
        assert_eq!(KafkaVersion::V0_10.as_str(), "0.10");
        assert_eq!(KafkaRecordFormat::SharePlexJson.as_str(), "shareplex_json");
        assert_eq!(KafkaPartitionKey::PartitionZero.as_str(), "none");
        assert_eq!(RedisType::Enterprise.as_str(), "enterprise");
    }

    #[test]
    fn document_errors() {
        assert_eq!(field("not json"), "Reserve");
        assert_eq!(field(""), "Reserve");
        assert_eq!(field("[1]"), "Reserve");
        assert_eq!(field(r#""{}""#), "Reserve");
    }

    #[test]
    fn enum_errors() {
        assert_eq!(field(r#"{"targetTableMode":"1"}"#), "Reserve.targetTableMode");
        assert_eq!(field(r#"{"targetTableMode":true}"#), "Reserve.targetTableMode");
        assert_eq!(field(r#"{"targetTableMode":""}"#), "Reserve.targetTableMode");
        assert_eq!(
            field(r#"{"autoStartModulesAfterConfig":"some"}"#),
            "Reserve.autoStartModulesAfterConfig"
        );
        assert_eq!(field(r#"{"destVersion":"2.0"}"#), "Reserve.destVersion");
        // A bare 0.10 is the number 0.1: the string form is needed.
        assert_eq!(field(r#"{"destVersion":0.10}"#), "Reserve.destVersion");
        assert_eq!(field(r#"{"kafkaRecordFormat":"json"}"#), "Reserve.kafkaRecordFormat");
        assert_eq!(field(r#"{"destKafkaPartitionKey":"random"}"#), "Reserve.destKafkaPartitionKey");
        assert_eq!(field(r#"{"srcRedisType":"community"}"#), "Reserve.srcRedisType");
        assert_eq!(field(r#"{"destRedisType":null}"#), "Reserve.destRedisType");
        let err = Reserve::parse(r#"{"kafkaRecordFormat":"json"}"#).unwrap_err();
        assert!(err
            .reason
            .contains("\"canal_json\", \"dts_avro\", \"shareplex_json\", \"debezium\""));
    }

    #[test]
    fn number_errors() {
        for bad in [r#""0""#, "0", "-5", r#""abc""#, "1.5", "4294967296", "[]"] {
            let json = format!(r#"{{"maxRetryTime":{bad}}}"#);
            assert_eq!(field(&json), "Reserve.maxRetryTime", "{bad}");
        }
        assert_eq!(field(r#"{"destSSL":"yes"}"#), "Reserve.destSSL");
        assert_eq!(field(r#"{"srcSSL":-1}"#), "Reserve.srcSSL");
    }

    #[test]
    fn text_errors() {
        assert_eq!(field(r#"{"destTopic":""}"#), "Reserve.destTopic");
        assert_eq!(field(r#"{"destTopic":5}"#), "Reserve.destTopic");
        assert_eq!(field(r#"{"sink.kafka.ddl.topic":" "}"#), "Reserve.sink.kafka.ddl.topic");
        assert_eq!(
            field(r#"{"dest.kafka.schema.registry.url":"http://a b"}"#),
            "Reserve.dest.kafka.schema.registry.url"
        );
        assert_eq!(field(r#"{"srcInstanceId":{}}"#), "Reserve.srcInstanceId");
        assert_eq!(field(r#"{"destInstanceId":""}"#), "Reserve.destInstanceId");
        assert_eq!(field(r#"{"srcEngineArchType":""}"#), "Reserve.srcEngineArchType");
        assert_eq!(field(r#"{"destEngineArchType":false}"#), "Reserve.destEngineArchType");
    }
}
