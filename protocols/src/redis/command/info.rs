//! INFO [section ...]
//!
//! Field names follow Redis 7.0 so that tools parsing INFO (redis-cli, client libraries,
//! exporters) find what they expect; values Strata has no equivalent for are reported as the
//! idle defaults of a fresh Redis. The replication section also carries the core's status
//! lines from [`KvStore::cluster_info`].

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::keyspace_range;
use crate::redis::session::ServerContext;
use crate::resp::Reply;

/// Sections in the order Redis prints them.
const SECTIONS: [&str; 13] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Sections left out of plain INFO and `INFO default` (`all` and `everything` have them).
const NOT_DEFAULT: [&str; 2] = ["commandstats", "latencystats"];

#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    /// Requested sections, lowercase; empty means "default".
    requested: Vec<String>,
}

impl Info {
    pub fn parse(args: &[Bytes]) -> Self {
        let requested =
            args.get(1..).unwrap_or_default().iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
        Info { requested }
    }

    /// Redis 7.0's section selection: any number of section names, plus `default`, `all` and
    /// `everything`; unknown names (e.g. `sentinel`) select nothing.
    fn wants(&self, section: &str) -> bool {
        let default = !NOT_DEFAULT.contains(&section);
        if self.requested.is_empty() {
            return default;
        }
        self.requested.iter().any(|r| match r.as_str() {
            "all" | "everything" => true,
            "default" => default,
            name => name == section,
        })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let mut text = String::new();
        for section in SECTIONS.iter().filter(|s| self.wants(s)) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let title = match *section {
                "cpu" => "CPU".to_string(),
                other => capitalize(other),
            };
            let _ = write!(text, "# {title}\r\n");
            for (field, value) in section_fields(section, kv, ctx).await? {
                // A CR or LF in a value would corrupt the line-based format.
                let value = value.replace(['\r', '\n'], " ");
                let _ = write!(text, "{field}:{value}\r\n");
            }
        }
        Ok(Reply::Verbatim { format: *b"txt", text: Bytes::from(text) })
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

type Fields = Vec<(String, String)>;

fn fields<const N: usize>(pairs: [(&str, String); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

async fn section_fields<K: KvStore>(section: &str, kv: &K, ctx: &ServerContext) -> Result<Fields, RedisError> {
    let uptime = ctx.uptime_seconds();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(match section {
        "server" => fields([
            ("redis_version", ctx.redis_version.to_string()),
            ("redis_git_sha1", "00000000".into()),
            ("redis_git_dirty", "0".into()),
            ("redis_build_id", "0".into()),
            ("redis_mode", "standalone".into()),
            ("os", os_description()),
            ("arch_bits", (usize::BITS).to_string()),
            ("monotonic_clock", "POSIX clock_gettime".into()),
            ("multiplexing_api", "epoll".into()),
            ("atomicvar_api", "c11-builtin".into()),
            ("gcc_version", "0.0.0".into()),
            ("process_id", ctx.process_id.to_string()),
            ("process_supervised", "no".into()),
            ("run_id", ctx.run_id.clone()),
            ("tcp_port", ctx.tcp_port.to_string()),
            ("server_time_usec", now.as_micros().to_string()),
            ("uptime_in_seconds", uptime.to_string()),
            ("uptime_in_days", (uptime / 86_400).to_string()),
            ("hz", "10".into()),
            ("configured_hz", "10".into()),
            // Redis's LRU clock: seconds, 24 bits.
            ("lru_clock", (now.as_secs() & ((1 << 24) - 1)).to_string()),
            ("executable", std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default()),
            ("config_file", String::new()),
            ("io_threads_active", "0".into()),
        ]),
        "clients" => fields([
            ("connected_clients", ctx.connected_clients.load(Ordering::Relaxed).to_string()),
            ("cluster_connections", "0".into()),
            ("maxclients", "10000".into()),
            ("client_recent_max_input_buffer", "0".into()),
            ("client_recent_max_output_buffer", "0".into()),
            ("blocked_clients", ctx.key_waiters.blocked_clients().to_string()),
            ("tracking_clients", "0".into()),
            ("clients_in_timeout_table", "0".into()),
        ]),
        "memory" => {
            let rss = resident_memory_bytes();
            let maxmemory = ctx.config_value("maxmemory").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            fields([
                ("used_memory", rss.to_string()),
                ("used_memory_human", bytes_to_human(rss)),
                ("used_memory_rss", rss.to_string()),
                ("used_memory_rss_human", bytes_to_human(rss)),
                ("used_memory_peak", rss.to_string()),
                ("used_memory_peak_human", bytes_to_human(rss)),
                ("maxmemory", maxmemory.to_string()),
                ("maxmemory_human", bytes_to_human(maxmemory)),
                ("maxmemory_policy", ctx.config_value("maxmemory-policy").unwrap_or_default()),
                ("mem_fragmentation_ratio", "1.00".into()),
                ("mem_allocator", "libc".into()),
                ("lazyfree_pending_objects", "0".into()),
            ])
        }
        "persistence" => fields([
            ("loading", "0".into()),
            ("async_loading", "0".into()),
            ("rdb_changes_since_last_save", "0".into()),
            ("rdb_bgsave_in_progress", "0".into()),
            ("rdb_last_save_time", ctx.started_unix.to_string()),
            ("rdb_last_bgsave_status", "ok".into()),
            ("aof_enabled", "0".into()),
            ("aof_rewrite_in_progress", "0".into()),
            ("aof_last_write_status", "ok".into()),
        ]),
        "stats" => fields([
            ("total_connections_received", ctx.total_connections_received.load(Ordering::Relaxed).to_string()),
            ("total_commands_processed", ctx.total_commands_processed.load(Ordering::Relaxed).to_string()),
            ("instantaneous_ops_per_sec", "0".into()),
            ("total_net_input_bytes", "0".into()),
            ("total_net_output_bytes", "0".into()),
            ("rejected_connections", "0".into()),
            ("expired_keys", "0".into()),
            ("evicted_keys", "0".into()),
            ("keyspace_hits", "0".into()),
            ("keyspace_misses", "0".into()),
            ("pubsub_channels", "0".into()),
            ("pubsub_patterns", "0".into()),
            ("latest_fork_usec", "0".into()),
            ("total_forks", "0".into()),
            ("total_error_replies", ctx.stats.total_errors().to_string()),
        ]),
        "commandstats" => ctx.stats.commandstats(),
        "errorstats" => ctx.stats.errorstats(),
        "replication" => {
            let mut out = fields([
                ("role", "master".into()),
                ("connected_slaves", "0".into()),
                ("master_failover_state", "no-failover".into()),
                ("master_replid", ctx.run_id.clone()),
                ("master_replid2", "0".repeat(40)),
                ("master_repl_offset", "0".into()),
                ("second_repl_offset", "-1".into()),
                ("repl_backlog_active", "0".into()),
                ("repl_backlog_size", "1048576".into()),
                ("repl_backlog_first_byte_offset", "0".into()),
                ("repl_backlog_histlen", "0".into()),
            ]);
            match kv.cluster_info().await {
                Ok(info) => out.extend(info.fields),
                // INFO stays useful when the core is unreachable; say so instead of failing.
                Err(err) => out.push(("strata_core_status".into(), format!("unavailable ({err})"))),
            }
            out
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            fields([
                ("used_cpu_sys", format!("{sys:.6}")),
                ("used_cpu_user", format!("{user:.6}")),
                ("used_cpu_sys_children", "0.000000".into()),
                ("used_cpu_user_children", "0.000000".into()),
            ])
        }
        "cluster" => fields([("cluster_enabled", "0".into())]),
        "keyspace" => {
            let (start, end) = keyspace_range();
            match kv.count(start, end).await {
                Ok(0) => Vec::new(),
                Ok(keys) => fields([("db0", format!("keys={keys},expires=0,avg_ttl=0"))]),
                Err(err) => {
                    tracing::warn!(error = %err, "INFO could not count keys");
                    Vec::new()
                }
            }
        }
        // modules, latencystats: present but empty.
        _ => Vec::new(),
    })
}

/// Redis's `bytesToHuman`.
fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [(1 << 50, "P"), (1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (scale, unit) in UNITS {
        if n >= scale {
            return format!("{:.2}{unit}", n as f64 / scale as f64);
        }
    }
    format!("{n}B")
}

fn os_description() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kernel = if cfg!(target_os = "linux") { "Linux" } else { std::env::consts::OS };
    format!("{kernel} {} {}", release.trim(), std::env::consts::ARCH)
}

/// Resident set size from /proc (Linux); 0 elsewhere.
pub(crate) fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// (user, system) CPU seconds of this process from /proc (Linux); zeros elsewhere.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut fields = after_name.split_whitespace().skip(11);
    let ticks = |f: Option<&str>| f.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    let user = ticks(fields.next());
    let sys = ticks(fields.next());
    (user, sys)
}

#[cfg(test)]
mod tests {
    use super::bytes_to_human;

    #[test]
    fn human_sizes_match_redis() {
        assert_eq!(bytes_to_human(512), "512B");
        assert_eq!(bytes_to_human(1_634_504), "1.56M");
        assert_eq!(bytes_to_human(25_276_502_016), "23.54G");
    }
}
