"""Operations commands: ``flask --app wsgi backup create|restore|verify|list|prune`` and
``flask --app wsgi import-legacy DIR [--dry-run]``.

They exit non-zero with a one-line message when something is wrong (a damaged archive, a non-empty
database, an unreadable dump). The import report names rows by their legacy id (and a skipped account by
the e-mail that made it fail); it never prints SSNs, licence numbers or dates of birth.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.services import audit

backup_cli = AppGroup("backup", help="Backups of the database and the uploaded files.")

OPS_ACTOR = audit.Actor(id="cli", email=None, role="admin")


def _size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@backup_cli.command("create")
@click.option("--portable", is_flag=True, help="Export through the driver even when mongodump is installed.")
@click.option(
    "--no-prune", is_flag=True, help="Keep every older archive (skip BACKUP_KEEP/BACKUP_MAX_AGE_DAYS)."
)
def backup_create_command(portable: bool, no_prune: bool) -> None:
    """Write one archive with every collection and every uploaded file."""
    from app.services.backup import BackupError, create_backup

    try:
        result = create_backup(use_mongodump=False if portable else None, prune=not no_prune)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    manifest = result.manifest
    click.echo(f"Backup written: {result.path} ({_size(result.path.stat().st_size)})")
    click.echo(
        f"  {result.documents} documents in {len(manifest['collections'])} collections "
        f"({manifest['database_format']}), {result.files} files"
    )
    for path in result.pruned:
        click.echo(f"  pruned {path.name}")


@backup_cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database and upload directories that hold data.")
def backup_restore_command(archive: Path, force: bool) -> None:
    """Verify ARCHIVE and restore it (into an empty installation unless --force)."""
    from app.services.backup import BackupError, restore_backup

    try:
        result = restore_backup(archive, force=force, echo=click.echo)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(result.collections.values())
    click.echo(
        f"Restored {total} documents in {len(result.collections)} collections and {result.files} files "
        f"from the backup of {result.manifest['created_at']} (app {result.manifest['app_version']})."
    )
    if result.pending_migrations:
        click.echo(
            f"{len(result.pending_migrations)} migrations are newer than the backup: run `flask --app wsgi migrate`."
        )


@backup_cli.command("verify")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify_command(archive: Path) -> None:
    """Check every checksum of ARCHIVE without restoring it."""
    from app.services.backup import BackupError, verify_backup

    try:
        manifest = verify_backup(archive)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    documents = sum(c["count"] for c in manifest["collections"].values())
    files = sum(f["count"] for f in manifest["files"].values())
    click.echo(f"{archive.name}: OK ({documents} documents, {files} files, made {manifest['created_at']})")


@backup_cli.command("list")
def backup_list_command() -> None:
    """List the archives in BACKUP_DIR, newest first."""
    from app.services.backup import list_backups

    backups = list_backups()
    if not backups:
        click.echo(f"No backups in {current_app.config['BACKUP_DIR']}")
        return
    for info in backups:
        click.echo(f"{info.created_at:%Y-%m-%d %H:%M:%SZ}  {_size(info.size):>10}  {info.path}")


@backup_cli.command("prune")
@click.option(
    "--keep", type=click.IntRange(min=0), default=None, help="Newest archives kept (default BACKUP_KEEP)."
)
@click.option(
    "--max-age-days",
    type=click.IntRange(min=0),
    default=None,
    help="Delete archives older than this (default BACKUP_MAX_AGE_DAYS).",
)
def backup_prune_command(keep: int | None, max_age_days: int | None) -> None:
    """Delete old archives by count and age; the newest archive is always kept."""
    from app.services.backup import prune_backups

    deleted = prune_backups(
        keep=current_app.config["BACKUP_KEEP"] if keep is None else keep,
        max_age_days=current_app.config["BACKUP_MAX_AGE_DAYS"] if max_age_days is None else max_age_days,
    )
    for path in deleted:
        click.echo(f"deleted {path.name}")
    click.echo(f"{len(deleted)} archives deleted")


@click.command("import-legacy")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Map and check every row and print the report; write nothing.")
@click.option("--verbose", is_flag=True, help="List every adjusted row, not only the counts.")
@click.option("--batch-size", type=click.IntRange(min=1, max=10_000), default=500, show_default=True)
def import_legacy_command(directory: Path, dry_run: bool, verbose: bool, batch_size: int) -> None:
    """Import a mongoexport (--jsonArray) or mongodump directory of the old platform."""
    from app.services.legacy_import import LegacyDumpError, import_legacy

    try:
        report = import_legacy(
            directory, dry_run=dry_run, batch_size=batch_size, actor=OPS_ACTOR, echo=click.echo
        )
    except LegacyDumpError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("")
    for line in report.summary_lines(verbose=verbose):
        click.echo(line)
    click.echo("")
    click.echo(
        f"{'Dry run: nothing was written' if dry_run else 'Import finished'} in {report.seconds:.1f} s."
    )


def register_ops_cli(app: Flask) -> None:
    app.cli.add_command(backup_cli)
    app.cli.add_command(import_legacy_command)
