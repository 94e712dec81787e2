//! `melwrap cache`: `info`, `prune` and `preload` on a build cache dir.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Subcommand, ValueEnum};
use color_eyre::eyre;

use super::{ExitStatus, StatusError, Verbosity};
use crate::cache::units::{format_age, format_bytes, parse_duration, parse_size};
use crate::cache::{self, Area, AreaUsage, CacheDir, PruneOptions};
use crate::printer::Printer;

const EXAMPLES: &str = "\
Examples:
  melwrap cache info --cache-dir ~/.cache/melwrap
  melwrap cache prune --older-than 30d --max-size 10G --dry-run
  melwrap cache preload --cache-source /mnt/shared-cache";

#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show the size, entry count and last use of each cache area.
    Info(InfoArgs),
    /// Remove least recently used entries; never while a build uses the cache.
    Prune(PruneArgs),
    /// Copy entries missing from the cache in from another directory; never overwrites.
    Preload(PreloadArgs),
}

/// The cache dir, as `melwrap build` takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheDirArg {
    /// The build cache directory (mounted at /var/cache/melange during builds).
    #[arg(long, value_name = "DIR", default_value = "./melange-cache")]
    pub cache_dir: PathBuf,
}

/// The apk cache dir, whose `guests/` holds the assembled guests.
#[derive(Debug, Clone, clap::Args)]
pub struct GuestCacheArg {
    /// The apk cache dir whose assembled guests (`guests/`) are shown and pruned too
    /// [default: $XDG_CACHE_HOME/melwrap/apk, else ~/.cache/melwrap/apk].
    #[arg(long, value_name = "DIR")]
    pub apk_cache_dir: Option<PathBuf>,
}

impl GuestCacheArg {
    fn guests(&self) -> PathBuf {
        self.apk_cache_dir
            .clone()
            .unwrap_or_else(crate::repo::cache::default_dir)
            .join("guests")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub dir: CacheDirArg,
    #[command(flatten)]
    pub guests: GuestCacheArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("rule").required(true).multiple(true).args(["older_than", "max_size"])))]
pub struct PruneArgs {
    #[command(flatten)]
    pub dir: CacheDirArg,
    #[command(flatten)]
    pub guests: GuestCacheArg,
    /// Remove entries (and guests) not used for this long (`30d`, `12h`, `90m`, `2w`).
    #[arg(long, value_name = "AGE", value_parser = duration_arg)]
    pub older_than: Option<u64>,
    /// Then remove least recently used entries until the cache fits (`10G`, `500M`, `1.5GiB`);
    /// the guests get the same budget of their own.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub max_size: Option<u64>,
    /// Print what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for running builds to finish instead of refusing.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct PreloadArgs {
    #[command(flatten)]
    pub dir: CacheDirArg,
    /// The directory to copy from (a shared or read-only seed cache).
    #[arg(long, value_name = "DIR")]
    pub cache_source: PathBuf,
}

fn duration_arg(text: &str) -> Result<u64, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn size_arg(text: &str) -> Result<u64, String> {
    parse_size(text).map_err(|e| e.to_string())
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    check_dirs(&args.command)?;
    let result = match args.command {
        CacheCommand::Info(a) => info(a, verbosity),
        CacheCommand::Prune(a) => prune(a, verbosity),
        CacheCommand::Preload(a) => preload(a, verbosity),
    };
    // `melwrap cache info | head` closing the pipe early is not an error.
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitStatus::Success)
        }
        other => other,
    }
}

/// `prune` removes and `preload` writes: refuse a system directory or home as the cache (a
/// slip such as `--cache-dir /` would otherwise prune the system), and a seed that is the
/// cache or nests with it, as `build` does. `info` only reads.
fn check_dirs(command: &CacheCommand) -> eyre::Result<()> {
    use crate::session::dirs::{Place, Role, check_places, system_dirs};
    let places = match command {
        CacheCommand::Info(_) => return Ok(()),
        CacheCommand::Prune(a) => vec![Place::new(Role::Cache, &a.dir.cache_dir)?],
        CacheCommand::Preload(a) => vec![
            Place::new(Role::Cache, &a.dir.cache_dir)?,
            Place::new(Role::CacheSource, &a.cache_source)?,
        ],
    };
    Ok(check_places(&places, &system_dirs())?)
}

fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".to_string()
    } else {
        format!("{n} entries")
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn info(args: InfoArgs, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let cache = CacheDir::inspect(&args.dir.cache_dir)?;
    let snap = cache::snapshot(&cache);
    let total = snap.total();
    let guests_dir = args.guests.guests();
    let guests = crate::repo::guests::list(&guests_dir)
        .map_err(|e| eyre::eyre!("guest cache: cannot read {}: {e}", guests_dir.display()))?;
    let guests_size: u64 = guests.iter().map(|g| g.size).sum();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let areas: serde_json::Map<String, serde_json::Value> = snap
                .areas
                .iter()
                .map(|(a, u)| (a.name().to_string(), serde_json::json!(u)))
                .collect();
            let doc = serde_json::json!({
                "path": cache.path(),
                "total": total,
                "areas": areas,
                "unreadable": snap.unreadable,
                "guests": {
                    "path": guests_dir,
                    "count": guests.len(),
                    "bytes": guests_size,
                    "entries": guests.iter().map(|g| serde_json::json!({
                        "key": g.key,
                        "bytes": g.size,
                        "last_use": unix(g.last_used),
                    })).collect::<Vec<_>>(),
                },
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Text => {
            let now = now();
            writeln!(
                out,
                "cache dir: {} ({} in {})",
                cache.path().display(),
                format_bytes(total.bytes),
                entries(total.entries as usize)
            )?;
            if !snap.areas.is_empty() {
                writeln!(
                    out,
                    "{:<13} {:>10} {:>8}  {:<16} most recent use",
                    "area", "size", "entries", "least recent use"
                )?;
                for area in Area::ALL {
                    if let Some(u) = snap.areas.get(&area) {
                        writeln!(out, "{}", info_row(area.name(), u, now))?;
                    }
                }
            }
            writeln!(
                out,
                "guests: {} ({} in {})",
                guests_dir.display(),
                format_bytes(guests_size),
                match guests.len() {
                    1 => "1 guest".to_string(),
                    n => format!("{n} guests"),
                }
            )?;
            for g in &guests {
                writeln!(
                    out,
                    "  {}  {:>10}  last used {}",
                    &g.key[..g.key.len().min(12)],
                    format_bytes(g.size),
                    format_age(now - unix(g.last_used))
                )?;
            }
        }
    }
    if !snap.unreadable.is_empty() {
        Printer::new(verbosity).warn(format!(
            "{} paths could not be read, so the sizes may be low; the first is {}",
            snap.unreadable.len(),
            snap.unreadable[0].display()
        ));
    }
    Ok(ExitStatus::Success)
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn info_row(name: &str, u: &AreaUsage, now: i64) -> String {
    let age = |t: Option<i64>| t.map_or("-".to_string(), |t| format_age(now - t));
    format!(
        "{:<13} {:>10} {:>8}  {:<16} {}",
        name,
        format_bytes(u.bytes),
        u.entries,
        age(u.oldest_use),
        age(u.newest_use)
    )
}

fn prune(args: PruneArgs, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let options = PruneOptions {
        older_than: args.older_than,
        max_size: args.max_size,
        now: now(),
    };
    // A dry run changes nothing, so it needs neither write access nor the lock.
    let (cache, lock) = if args.dry_run {
        (CacheDir::inspect(&args.dir.cache_dir)?, None)
    } else {
        let cache = CacheDir::open(&args.dir.cache_dir, false)?;
        let lock = match cache.lock_exclusive(false) {
            Ok(lock) => lock,
            Err(busy) if !args.wait => return Err(busy.into()),
            Err(_) => {
                Printer::new(verbosity).info(format!(
                    "waiting for the builds using {} to finish",
                    cache.path().display()
                ));
                cache.lock_exclusive(true)?
            }
        };
        (cache, Some(lock))
    };
    // The scan happens under the lock, so the plan matches what is removed.
    let scan = cache::scan(cache.path());
    let plan = cache::plan_prune(&scan, &options);
    let mut out = std::io::stdout().lock();
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let (removed, freed, failed) = match &lock {
        None => (plan.remove.clone(), plan.free_bytes, Vec::new()),
        Some(lock) => {
            let outcome = cache::execute_prune(&cache, &plan, lock);
            (outcome.removed, outcome.freed_bytes, outcome.failed)
        }
    };
    if verbosity > Verbosity::Quiet {
        for e in &removed {
            writeln!(
                out,
                "{verb} {:>10}  last used {:<14}  {}",
                format_bytes(e.bytes),
                format_age(options.now - e.last_use),
                e.key
            )?;
        }
    }
    for (e, why) in &failed {
        Printer::new(verbosity).error(format!("could not remove {}: {why}", e.key));
    }
    let left = scan.entries.iter().map(|e| e.bytes).sum::<u64>() - freed;
    if removed.is_empty() && failed.is_empty() {
        writeln!(
            out,
            "nothing to prune: {} in {}, none matched",
            format_bytes(left),
            entries(scan.entries.len())
        )?;
    } else {
        let freed_verb = if args.dry_run { "would free" } else { "freed" };
        writeln!(
            out,
            "{freed_verb} {} in {}; {} left",
            format_bytes(freed),
            entries(removed.len()),
            format_bytes(left)
        )?;
    }
    prune_guests(&args, &mut out)?;
    if !failed.is_empty() {
        return Err(StatusError(
            ExitStatus::Failure,
            format!("{} entries could not be removed", failed.len()),
        )
        .into());
    }
    Ok(ExitStatus::Success)
}

/// The guests by the same rules; never one a build or test is using.
fn prune_guests(args: &PruneArgs, out: &mut impl Write) -> eyre::Result<()> {
    use crate::repo::guests::{GuestPruneRules, prune};
    let guests_dir = args.guests.guests();
    let rules = GuestPruneRules {
        older_than: args.older_than.map(std::time::Duration::from_secs),
        max_size: args.max_size,
        dry_run: args.dry_run,
    };
    let report = prune(&guests_dir, rules)
        .map_err(|e| eyre::eyre!("guest cache {}: {e}", guests_dir.display()))?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for g in &report.removed {
        writeln!(
            out,
            "{verb} guest {}  {:>10}  last used {}",
            &g.key[..g.key.len().min(12)],
            format_bytes(g.size),
            format_age(now() - unix(g.last_used))
        )?;
    }
    for key in &report.in_use {
        writeln!(
            out,
            "kept guest {}: in use by a build or test",
            &key[..key.len().min(12)]
        )?;
    }
    if report.leftovers > 0 {
        writeln!(
            out,
            "removed {} leftover(s) of interrupted guest assemblies",
            report.leftovers
        )?;
    }
    if report.removed.is_empty() && report.in_use.is_empty() {
        writeln!(out, "no guest to prune in {}", guests_dir.display())?;
    }
    Ok(())
}

fn preload(args: PreloadArgs, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let cache = CacheDir::open(&args.dir.cache_dir, true)?;
    let _lock = match cache.try_lock_shared()? {
        Some(lock) => lock,
        None => {
            Printer::new(verbosity).info(format!(
                "waiting for a prune of {} to finish",
                cache.path().display()
            ));
            cache.lock_shared()?
        }
    };
    let stats = cache::preload(&cache, &args.cache_source)?;
    writeln!(
        std::io::stdout().lock(),
        "preloaded {} from {}: {} copied ({}), {} already present, {} skipped",
        cache.path().display(),
        args.cache_source.display(),
        stats.copied,
        format_bytes(stats.bytes),
        stats.already_present,
        stats.skipped
    )?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<CacheCommand, clap::Error> {
        let mut full = vec!["melwrap", "cache"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Command::Cache(a) => a.command,
            other => panic!("parsed as {other:?}"),
        })
    }

    #[test]
    fn prune_flags() {
        match parse(&["prune", "--older-than", "30d", "--max-size", "1.5GiB"]).unwrap() {
            CacheCommand::Prune(p) => {
                assert_eq!(p.older_than, Some(30 * 86400));
                assert_eq!(p.max_size, Some(3 << 29));
                assert_eq!(p.dir.cache_dir, PathBuf::from("./melange-cache"));
                assert!(!p.dry_run && !p.wait);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["prune"]).is_err(), "a rule is required");
        let err = parse(&["prune", "--older-than", "30x"]).unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        assert!(parse(&["prune", "--max-size", "lots"]).is_err());
    }

    #[test]
    fn info_flags() {
        match parse(&["info", "--cache-dir", "/c", "--format", "json"]).unwrap() {
            CacheCommand::Info(i) => {
                assert_eq!(i.dir.cache_dir, PathBuf::from("/c"));
                assert_eq!(i.format, Format::Json);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["info", "--format", "yaml"]).is_err());
    }
}
