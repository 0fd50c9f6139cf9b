//! `bs`: BaseSpace Sequence Hub command-line client (Ferry), a drop-in for Illumina's.

mod apps;
mod cli;
mod commands;
mod context;
mod download;
mod output;
mod progress;
mod template;
mod upload;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, LinkWhat, LoadWhat, RevokeWhat};

/// The `(position, include, glob)` triples of `--include`/`--exclude` in the innermost subcommand.
fn ordered_globs(matches: &clap::ArgMatches) -> Vec<(usize, bool, String)> {
    let mut current = matches;
    while let Some((_, inner)) = current.subcommand() {
        current = inner;
    }
    let mut raw = Vec::new();
    for (id, include) in [("include", true), ("exclude", false)] {
        // `indices_of` panics for arguments a subcommand does not define: ask `try_get_many` first.
        if let Ok(Some(values)) = current.try_get_many::<String>(id)
            && let Some(indices) = current.indices_of(id)
        {
            for (value, index) in values.zip(indices) {
                raw.push((index, include, value.clone()));
            }
        }
    }
    raw
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = || tracing_subscriber::EnvFilter::new(format!("{level},hyper=warn,reqwest=warn,h2=warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter());
    let file_layer = match &cli.log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| anyhow::anyhow!("cannot open log file {}: {err}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .with_filter(tracing_subscriber::EnvFilter::new(format!(
                        "{},hyper=warn,reqwest=warn,h2=warn",
                        if cli.verbose == 0 { "info" } else { level }
                    ))),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init()
        .ok();
    Ok(())
}

async fn run(cli: &Cli, globs: Vec<(usize, bool, String)>) -> (anyhow::Result<()>, Option<context::Context>) {
    if let Command::Completion { shell } = &cli.command {
        let mut command = Cli::command();
        clap_complete::generate(*shell, &mut command, "bs", &mut std::io::stdout());
        return (Ok(()), None);
    }
    let ctx = match context::resolve(cli) {
        Ok(ctx) => ctx,
        Err(err) => return (Err(err), None),
    };
    let result = async {
        let rules = download::rules(globs)?;
        match &cli.command {
            Command::Auth(args) => commands::auth(&ctx, args, cli.quiet).await,
            Command::Whoami(output) => commands::whoami(&ctx, output).await,
            Command::Load { what: LoadWhat::Config } => commands::load_config(&ctx),
            Command::List { what } => commands::list(&ctx, what).await,
            Command::Get { what } => commands::get(&ctx, what).await,
            Command::Contents { what } => commands::contents(&ctx, what).await,
            Command::Create { what } => commands::create(&ctx, what).await,
            Command::Link {
                what: LinkWhat::File { id },
            } => commands::link_file(&ctx, id).await,
            Command::Revoke {
                what: RevokeWhat::Token,
            } => commands::revoke(&ctx).await,
            Command::Archive { what } => commands::archive(&ctx, what, true).await,
            Command::Unarchive { what } => commands::archive(&ctx, what, false).await,
            Command::Launch {
                what: cli::LaunchWhat::Application(args),
            } => apps::launch(&ctx, args).await,
            Command::Await {
                what: cli::AwaitWhat::Appsession(args),
            } => apps::await_session(&ctx, args).await,
            Command::Kill {
                what: cli::KillWhat::Appsession(args),
            } => apps::kill(&ctx, args).await,
            Command::Logs {
                what: cli::LogsWhat::Appsession(args),
            } => apps::logs(&ctx, args).await,
            Command::Download { what } => download::download(&ctx, what, &rules, cli.quiet, cli.no_progress_bars).await,
            Command::Upload {
                what: cli::UploadWhat::Dataset(args),
            } => upload::upload_dataset(&ctx, args, &rules, cli.quiet, cli.no_progress_bars).await,
            Command::Completion { .. } => Ok(()),
        }
    }
    .await;
    (result, Some(ctx))
}

/// The exit status of a command ended by SIGPIPE (128 + 13), as shells report it.
const EXIT_BROKEN_PIPE: i32 = 141;

/// A reader that stopped reading (`bs list projects | head -3`) ends `bs` quietly, as it ends
/// other Unix tools, instead of a panic and a backtrace: Rust's printing panics on a closed pipe.
fn end_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    end_quietly_on_closed_pipe();
    let args = cli::normalize_args(std::env::args().collect());
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Err(err) = init_logging(&cli) {
        eprintln!("ERROR: {err:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ERROR: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (result, ctx) = runtime.block_on(run(&cli, ordered_globs(&matches)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ERROR: {}", context::explain(&err, ctx.as_ref()));
            ExitCode::FAILURE
        }
    }
}
