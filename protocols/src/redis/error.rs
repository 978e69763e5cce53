//! Every error a Redis command can answer, mapped to Redis 7.0's exact text in one place.

use bytes::Bytes;

use crate::kv::KvError;
use crate::resp::Reply;

/// A command failure. [`RedisError::to_reply`] turns it into the error reply Redis sends.
///
/// The `Display` text is the reply text without the leading `-`; variants that echo client
/// bytes (unknown command names) are rendered lossily by `Display` but byte-exact by
/// `to_reply`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR syntax error")]
    Syntax,
    /// Carries the command's full lowercase name, e.g. `get` or `client|setname`.
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        quoted_args_lossy(args)
    )]
    UnknownCommand { name: Bytes, args: Vec<Bytes> },
    /// `container` is the uppercase container command (`CLIENT`, `COMMAND`).
    #[error("ERR unknown subcommand '{}'. Try {container} HELP.", String::from_utf8_lossy(name))]
    UnknownSubcommand { name: Bytes, container: String },
    /// `name` is the command's full lowercase name, e.g. `get` or `client|id`.
    #[error("ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")]
    SubscribedContext(&'static str),
    /// A subcommand given the wrong number of arguments where Redis checks it itself
    /// (`PUBSUB CHANNELS a b`); `name` is the subcommand as the client typed it.
    #[error(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(name)
    )]
    SubcommandSyntax { name: Bytes, container: String },
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")]
    HelloNoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    AuthNotConfigured,
    /// Carries the lowercase command name.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR decrement would overflow")]
    DecrementOverflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR offset is out of range")]
    OffsetOutOfRange,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// An integer argument outside the range a command accepts (Redis's
    /// `getRangeLongFromObjectOrReply` without a custom message, e.g. COPY ... DB 2147483648).
    #[error("ERR value is out of range, value must between {min} and {max}")]
    ValueOutOfRange { min: i64, max: i64 },
    /// RENAME / RENAMENX of a key that does not exist.
    #[error("ERR no such key")]
    NoSuchKey,
    /// COPY of a key onto itself.
    #[error("ERR source and destination objects are the same")]
    SameObject,
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    #[error("ERR Protocol version is not an integer or out of range")]
    ProtocolVersionNotInteger,
    #[error("ERR Syntax error in HELLO option '{0}'")]
    HelloSyntax(String),
    #[error("ERR Client names cannot contain spaces, newlines or special characters.")]
    InvalidClientName,
    /// CLIENT SETINFO with a value containing spaces or special characters.
    #[error("ERR {0} cannot contain spaces, newlines or special characters.")]
    InvalidClientInfo(String),
    #[error("ERR Unrecognized option '{0}'")]
    UnrecognizedOption(String),
    /// EXPIRE with an option other than NX / XX / GT / LT.
    #[error("ERR Unsupported option {0}")]
    UnsupportedOption(String),
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxConflict,
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtLtConflict,
    /// EVAL, SINTERCARD... with a numkeys larger than the arguments that follow.
    #[error("ERR Number of keys can't be greater than number of args")]
    TooManyKeys,
    #[error("ERR Number of keys can't be negative")]
    NegativeKeys,
    /// A command that may grow memory while the gateway is above `maxmemory` (Redis's
    /// `noeviction` refusal; Strata never evicts).
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    OutOfMemory,
    /// SAVE, SHUTDOWN... between MULTI and EXEC (Redis's `no-multi` flag).
    #[error("ERR Command not allowed inside a transaction")]
    NotAllowedInMulti,
    /// Clients cannot stop a gateway or the cluster.
    #[error("ERR SHUTDOWN is not supported: stop the Strata process instead")]
    ShutdownUnsupported,
    /// HSCAN / SSCAN / ZSCAN with a cursor that is not an unsigned 64-bit decimal.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// HINCRBY on a field whose value is not an integer.
    #[error("ERR hash value is not an integer")]
    HashValueNotInteger,
    /// HINCRBYFLOAT on a field whose value is not a float.
    #[error("ERR hash value is not a float")]
    HashValueNotFloat,
    /// HINCRBYFLOAT with an infinite increment.
    #[error("ERR value is NaN or Infinity")]
    ValueNanOrInfinity,
    /// A count that must not be negative (`getPositiveLongFromObjectOrReply`, e.g. SPOP).
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    /// HRANDFIELD ... WITHVALUES with a count whose reply length would overflow.
    #[error("ERR value is out of range")]
    OutOfRange,
    #[error("ERR numkeys should be greater than 0")]
    NumkeysNotPositive,
    #[error("ERR LIMIT can't be negative")]
    LimitNegative,
    /// An integer argument refused with the command's own message (Redis's
    /// `getRangeLongFromObjectOrReply` / `getPositiveLongFromObjectOrReply` with a message),
    /// e.g. `count should be greater than 0`.
    #[error("ERR {0}")]
    BadArgument(&'static str),
    /// LSET / LINDEX-style index past either end.
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")]
    RankZero,
    #[error("ERR timeout is negative")]
    NegativeTimeout,
    #[error("ERR timeout is not a float or out of range")]
    TimeoutNotFloat,
    /// A command-specific error whose full text (code included) is fixed, e.g. the sorted-set
    /// range errors `ERR min or max is not a float`.
    #[error("{0}")]
    Custom(&'static str),
    #[error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")]
    LfuNotSelected,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    #[error("ERR The bit argument must be 1 or 0.")]
    BitArgument,
    #[error("ERR BITOP NOT must be called with a single source key.")]
    BitopNotArity,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHyperLogLog,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    CorruptHyperLogLog,
    #[error("ERR No such client")]
    NoSuchClient,
    #[error("ERR Unknown client type '{0}'")]
    UnknownClientType(String),
    #[error("ERR No such user '{0}'")]
    NoSuchUser(String),
    #[error("ERR Invalid client ID")]
    InvalidClientId,
    #[error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")]
    UnblockReason,
    /// A blocked command ended by CLIENT UNBLOCK ... ERROR.
    #[error("UNBLOCKED client unblocked via CLIENT UNBLOCK")]
    Unblocked,
    #[error("ERR client-id should be greater than 0")]
    ClientIdNotPositive,
    #[error("ERR Unknown option or number of arguments for CONFIG SET - '{0}'")]
    ConfigUnknownOption(String),
    #[error("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")]
    ConfigSetFailed { name: String, reason: &'static str },
    #[error("ERR The server is running without a config file")]
    NoConfigFile,
    #[error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")]
    FunctionFlushMode,
    #[error("ERR Invalid command specified")]
    GetKeysInvalidCommand,
    #[error("ERR The command has no key arguments")]
    GetKeysNoKeys,
    #[error("ERR Invalid number of arguments specified for command")]
    GetKeysWrongArity,
    #[error("{}", kv_error_text(.0))]
    Kv(KvError),
}

impl From<KvError> for RedisError {
    fn from(err: KvError) -> Self {
        RedisError::Kv(err)
    }
}

/// Redis's argument excerpt for unknown commands: `'a' 'b' ` (each quoted, each followed by a
/// space), cut once 128 bytes have been written.
fn quoted_args(args: &[Bytes]) -> Vec<u8> {
    const LIMIT: usize = 128;
    let mut out = Vec::new();
    for arg in args {
        if out.len() >= LIMIT {
            break;
        }
        // Like `%.*s`, the argument is cut at a NUL byte and at the remaining budget.
        let until_nul = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
        let take = until_nul.min(LIMIT - out.len());
        out.push(b'\'');
        out.extend_from_slice(arg.get(..take).unwrap_or_default());
        out.extend_from_slice(b"' ");
    }
    out
}

fn quoted_args_lossy(args: &[Bytes]) -> String {
    String::from_utf8_lossy(&quoted_args(args)).into_owned()
}

/// `%.128s` of a client-supplied name: at most 128 bytes, cut at a NUL.
fn c_string_prefix(name: &[u8]) -> &[u8] {
    let until_nul = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    name.get(..until_nul.min(128)).unwrap_or_default()
}

fn kv_error_text(err: &KvError) -> String {
    match err {
        KvError::Unavailable(msg) | KvError::TryAgain(msg) => format!("TRYAGAIN {msg}"),
        KvError::Invalid(msg) => format!("ERR {msg}"),
        KvError::Internal(msg) => format!("ERR internal error: {msg}"),
        KvError::CrossRange => format!("CROSSRANGE {err}"),
    }
}

impl RedisError {
    /// The error reply, byte-exact with Redis 7.0.
    pub fn to_reply(&self) -> Reply {
        match self {
            RedisError::UnknownCommand { name, args } => {
                let mut text = b"ERR unknown command '".to_vec();
                text.extend_from_slice(c_string_prefix(name));
                text.extend_from_slice(b"', with args beginning with: ");
                text.extend_from_slice(&quoted_args(args));
                Reply::Error(Bytes::from(text))
            }
            RedisError::UnknownSubcommand { name, container } => {
                let mut text = b"ERR unknown subcommand '".to_vec();
                text.extend_from_slice(c_string_prefix(name));
                text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
                Reply::Error(Bytes::from(text))
            }
            RedisError::SubcommandSyntax { name, container } => {
                let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                text.extend_from_slice(c_string_prefix(name));
                text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
                Reply::Error(Bytes::from(text))
            }
            other => Reply::error(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(err: RedisError) -> Vec<u8> {
        match err.to_reply() {
            Reply::Error(t) => t.to_vec(),
            other => panic!("not an error reply: {other:?}"),
        }
    }

    #[test]
    fn texts_match_redis() {
        assert_eq!(text(RedisError::WrongType), b"WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(text(RedisError::WrongArity("get".into())), b"ERR wrong number of arguments for 'get' command");
        assert_eq!(text(RedisError::InvalidExpire("set")), b"ERR invalid expire time in 'set' command");
        assert_eq!(text(RedisError::NoAuth), b"NOAUTH Authentication required.");
        assert_eq!(text(RedisError::NoSuchKey), b"ERR no such key");
        assert_eq!(text(RedisError::SameObject), b"ERR source and destination objects are the same");
        assert_eq!(
            text(RedisError::ValueOutOfRange { min: i32::MIN.into(), max: i32::MAX.into() }),
            b"ERR value is out of range, value must between -2147483648 and 2147483647"
        );
        assert_eq!(text(RedisError::Kv(KvError::Unavailable("no leader".into()))), b"TRYAGAIN no leader");
        assert_eq!(text(RedisError::Kv(KvError::Invalid("too big".into()))), b"ERR too big");
        assert_eq!(text(RedisError::Kv(KvError::Internal("disk".into()))), b"ERR internal error: disk");
        assert_eq!(
            text(RedisError::Kv(KvError::CrossRange)),
            b"CROSSRANGE keys of this command live in different ranges"
        );
    }

    #[test]
    fn unknown_command_echoes_args_like_redis() {
        let err = RedisError::UnknownCommand {
            name: Bytes::from_static(b"FOO"),
            args: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        };
        assert_eq!(text(err), b"ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
        let none = RedisError::UnknownCommand { name: Bytes::from_static(b"foo"), args: vec![] };
        assert_eq!(text(none), b"ERR unknown command 'foo', with args beginning with: ");
        // The excerpt stops once 128 bytes were written, cutting the last argument to fit.
        let long = RedisError::UnknownCommand {
            name: Bytes::from_static(b"x"),
            args: vec![Bytes::from(vec![b'a'; 100]), Bytes::from(vec![b'b'; 100]), Bytes::from_static(b"c")],
        };
        let t = text(long);
        let excerpt = t.strip_prefix(&b"ERR unknown command 'x', with args beginning with: "[..]).unwrap();
        assert_eq!(excerpt.len(), 3 + 100 + 3 + (128 - 103));
        assert!(excerpt.ends_with(b"b' "));
    }

    #[test]
    fn unknown_subcommand_names_container() {
        let err = RedisError::UnknownSubcommand { name: Bytes::from_static(b"foo"), container: "CLIENT".into() };
        assert_eq!(text(err), b"ERR unknown subcommand 'foo'. Try CLIENT HELP.");
    }
}
