"""``regard demo ...``: the demo brand, Northwind Outfitters, generated, loaded and served."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from regard import runtime, terminal
from regard.commitment import commands as commitment_commands
from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.customers import repository as customers_repository
from regard.customers.importers import ImportSummary
from regard.decisions import commands as decision_commands
from regard.decisions import preview
from regard.decisions import service as decision_service
from regard.delivery import commands as delivery_commands
from regard.delivery.worker import Worker
from regard.demo import commitment as demo_commitment
from regard.demo import delivery as demo_delivery
from regard.demo import history as demo_history
from regard.demo import loading
from regard.demo import measurement as demo_measurement
from regard.demo import staff as demo_staff
from regard.demo.generator import DEFAULT_SEED, DEFAULT_UNTIL, DemoFile, DemoManifest, generate
from regard.errors import InvalidInput
from regard.measurement.report import print_report
from regard.segments import service as segments_service
from regard.segments.language import SegmentError
from regard.segments.schema import LIFECYCLE_STAGES
from regard.store.database import Store, unit_of_work
from regard.touchpoints import commands as touchpoint_commands
from regard.touchpoints import journey, triggers
from regard.touchpoints import repository as touchpoints_repository
from regard.voc import commands as voc_commands
from regard.voc import service as voc

app = typer.Typer(
    help="The demo brand, Northwind Outfitters: generate its data, or load and serve it.",
    no_args_is_help=True,
)
console = terminal.console()

_DIR = typer.Option(Path("demo-data"), "--dir", help="Where the demo's files and database go.")
_CUSTOMERS = typer.Option(10_000, min=1, help="How many people the brand knows.")
_SEED = typer.Option(DEFAULT_SEED, min=0, help="The same seed gives byte-identical files.")
_UNTIL = typer.Option(
    DEFAULT_UNTIL.isoformat(), help="The end of the two years of history (YYYY-MM-DD)."
)


def _until(value: str) -> date:
    try:
        until = date.fromisoformat(value)
    except ValueError as exc:
        message = f"{value!r} is not a date (YYYY-MM-DD)"
        raise typer.BadParameter(message, param_hint="--until") from exc
    # The importer refuses events from the future; history must end by today.
    if until > datetime.now(UTC).date():
        raise typer.BadParameter("history cannot end in the future", param_hint="--until")
    return until


def _files_table(manifest: DemoManifest) -> Table:
    table = Table(title=f"Demo files in {manifest.directory}")
    for name in ("file", "kind", "source", "rows", "broken on purpose", "re-sent"):
        table.add_column(name, justify="left" if name in ("file", "kind", "source") else "right")
    for f in manifest.files:
        table.add_row(
            f.path.name,
            f.kind,
            f.source,
            f"{f.rows:,}",
            f"{f.bad_rows:,}",
            f"{f.duplicate_rows:,}",
        )
    return table


@app.command(name="generate")
def generate_command(
    customers: int = _CUSTOMERS,
    seed: int = _SEED,
    directory: Path = _DIR,
    until: str = _UNTIL,
) -> None:
    """Write the demo brand's customer and event files (CSV, Parquet and JSON Lines)."""
    started = time.perf_counter()
    manifest = generate(directory, customers=customers, seed=seed, until=_until(until))
    seconds = time.perf_counter() - started
    console.print(_files_table(manifest))
    rows = manifest.customer_rows + manifest.events
    console.print(
        f"{manifest.customers:,} people ({manifest.split_profiles:,} known to the shop and the "
        f"tills under different names), {manifest.anonymous_visitors:,} anonymous visitors, "
        f"{manifest.customer_rows:,} customer rows and {manifest.events:,} events "
        f"in {seconds:.1f} s ({rows / seconds:,.0f} rows/s). "
        f"Manifest: {directory / 'manifest.json'}",
        highlight=False,
    )


class _RowsPerSecond(ProgressColumn):
    """Rows a second, from Rich's recent speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


def _import_with_progress(
    store: Store, manifest: DemoManifest
) -> list[tuple[DemoFile, ImportSummary]]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:

        def track(demo_file: DemoFile) -> Callable[[int], None]:
            task = progress.add_task(f"{demo_file.path.name:<24}", total=demo_file.rows)
            return lambda rows: progress.advance(task, rows)

        return loading.import_demo(store, manifest, progress=track)


def _summary_table(results: list[tuple[DemoFile, ImportSummary]]) -> Table:
    table = Table(title="Import")
    names = ("file", "rows", "imported", "created", "merged", "duplicates", "rejected", "rows/s")
    for name in names:
        table.add_column(name, justify="left" if name == "file" else "right")
    table.add_column("rejects file")
    for demo_file, summary in results:
        expected = demo_file.bad_rows
        rejected = f"{summary.rejected:,}"
        if summary.rejected != expected:
            rejected += f" ({expected:,} expected)"
        table.add_row(
            demo_file.path.name,
            f"{summary.rows:,}",
            f"{summary.imported:,}",
            f"{summary.created:,}",
            f"{summary.merged:,}",
            f"{summary.duplicates:,}",
            rejected,
            f"{summary.rows_per_second:,.0f}",
            summary.rejects_path.name if summary.rejects_path else "",
        )
    return table


@app.command()
def run(
    directory: Path = _DIR,
    customers: int = _CUSTOMERS,
    seed: int = _SEED,
    until: str = _UNTIL,
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the app afterwards."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on."),
) -> None:
    """Generate the demo (once), load it into its own database, and serve it."""
    manifest, generated = loading.ensure_generated(
        directory, customers=customers, seed=seed, until=_until(until)
    )
    console.print(
        f"{'Generated' if generated else 'Using'} the demo files in {directory} "
        f"({manifest.customers:,} people, {manifest.events:,} events).",
        highlight=False,
    )
    store = loading.open_demo_store(directory)
    runtime.use_store(store)
    demo_keys = loading.ensure_keys(
        store, directory, sources=sorted({f.source for f in manifest.files})
    )
    results = _import_with_progress(store, manifest)
    console.print(_summary_table(results))
    base = f"http://{host}:{port}"
    voices = _customers_speak(store, manifest, directory, seed=seed)
    _commitment_and_segments(store, manifest, seed=seed)
    with demo_delivery.mail_server(directory) as mail_server:
        _history(store, manifest, directory, mail_server, seed=seed, public_url=base)
        _touchpoints(store, manifest)
        _deliver(store, manifest, directory, mail_server, public_url=base)
        _customer_value(store, manifest, directory)
        report_path = _report(store, manifest, directory)
        _finish(
            store,
            manifest,
            directory,
            demo_keys,
            mail_server,
            voices=voices,
            host=host,
            port=port,
            serve=serve,
            report_path=report_path,
        )


def _finish(
    store: Store,
    manifest: DemoManifest,
    directory: Path,
    demo_keys: loading.DemoKeys,
    mail_server: demo_delivery.DemoMailServer,
    *,
    voices: loading.PreferencesLoaded,
    host: str,
    port: int,
    serve: bool,
    report_path: Path,
) -> None:
    """The loaded brand in numbers, where to look next, and the app served."""
    base = f"http://{host}:{port}"
    with unit_of_work(store) as session:
        profiles = customers_repository.count_customers(session)
        events = customers_repository.count_events(session)
    example = loading.example_customer(manifest)
    shop_key = demo_keys.write.get("shop", next(iter(demo_keys.write.values())))
    event = (
        f'{{"userId": "{example.shop_id}", "event": "product_viewed", '
        '"properties": {"sku_category": "tents"}}'
    )
    lines = [
        f"[bold]{store.brand.name}[/] is loaded: "
        f"{profiles:,} customer profiles, {events:,} events.",
        f"  App:       {base}/",
        f"  API docs:  {base}/api/docs",
        "  A customer, with the read key:",
        f'    curl -H "Authorization: Bearer {demo_keys.read}" '
        f'"{base}/api/customers?email={quote(example.email)}"',
        "  An event from the web shop, with its write key:",
        f"    curl -u {shop_key}: -H 'Content-Type: application/json' -d '{event}' {base}/v1/track",
        f"  Keys: {directory / loading.KEYS_FILE}",
        "",
        "[bold]Preferences[/]: "
        f"{voices.report.entries:,} ledger entries for {voices.report.customers:,} customers, "
        + ("chains verified" if voices.report.ok else "[red]VERIFY FAILED[/]")
        + f" (anchor {voices.report.anchor[:16]}…).",
    ]
    lines += _preference_lines(store, example.email, base, directory)
    logins = demo_staff.ensure_staff(store, directory)
    lines += [
        "",
        f"[bold]Staff console[/]: {base}/admin/ (a login for each role; kept in "
        f"{directory / demo_staff.STAFF_FILE}):",
        *(f"    {role:9s} {email}  {password}" for role, (email, password) in logins.items()),
        f"  Find {example.email} with the agent's login, see why each message was or was not "
        "sent; preview a campaign with the marketer's.",
        "",
        f"[bold]Measurement report[/]: {report_path}",
        f"  In the console: {base}/admin/report. The lift alone, and the report written again:",
        f"    {_demo_env(directory)} .venv/bin/regard measure lift",
        f"    {_demo_env(directory)} .venv/bin/regard report",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    if serve:
        from regard.app import create_app
        from regard.web.serving import serve as serve_app

        app = create_app(store)
        app.state.center_mail = loading.demo_mail(directory, public_url=base)
        every = store.brand.engine.every
        console.print(
            f"The scheduler runs triggers and the engine every {every.total_seconds() / 60:g} "
            "minutes while the app is served (regard run --every).",
            highlight=False,
        )
        decision_commands.start_scheduler(store, every=every)
        worker = demo_delivery.demo_worker(store, directory, mail_server, public_url=base)
        threading.Thread(
            target=worker.run, kwargs={"poll": 5.0}, name="demo-delivery", daemon=True
        ).start()
        console.print(
            f"A delivery worker sends what falls due to the demo's SMTP server "
            f"({mail_server.host}:{mail_server.port}) while the app is served.",
            highlight=False,
        )
        serve_app(app, host=host, port=port)


def _customers_speak(
    store: Store, manifest: DemoManifest, directory: Path, *, seed: int
) -> loading.PreferencesLoaded:
    """The consent history from the old newsletter tool, then a month of customers' own word."""
    loaded = loading.load_preferences(store, manifest, directory, seed=seed)
    imported = loaded.imported
    console.print(
        f"Consent history from the old newsletter tool ({loaded.consents_file.name}): "
        f"{imported.rows:,} rows, {imported.recorded:,} recorded, "
        f"{imported.unchanged:,} already known, {imported.rejected:,} rejected "
        f"({loaded.expected_rejects} broken on purpose)"
        + (f"; rejects in {imported.rejects_path.name}" if imported.rejects_path else "")
        + ".",
        highlight=False,
    )
    voices = loaded.voices
    console.print(
        f"Customers' own word: {voices.devices:,} phones and tablets registered for push, "
        f"{voices.center_visits:,} preference-center visits "
        f"({voices.confirmations:,} email opt-ins confirmed from the inbox), "
        f"{voices.one_click:,} one-click unsubscribes, {loaded.sms_stops} SMS STOP replies.",
        highlight=False,
    )
    return loaded


def _commitment_and_segments(store: Store, manifest: DemoManifest, *, seed: int) -> None:
    """Survey answers scored, every segment evaluated, commitment set against lifecycle."""
    as_of = datetime.combine(manifest.until, datetime.max.time(), tzinfo=UTC)
    surveyed = demo_commitment.answer_surveys(store, seed=seed, until=as_of)
    console.print(
        f"Commitment survey: {surveyed.responses:,} answers; {surveyed.twice:,} customers "
        f"answered a second wave about {demo_commitment.WAVE_DAYS // 30} months before the last "
        "day, so their movement between groups can be measured"
        + ("" if surveyed.recorded_now else " (recorded on an earlier run)")
        + ".",
        highlight=False,
    )
    loaded = demo_commitment.evaluate(store, as_of=as_of)
    groups = [*USER_GROUPS, *NON_USER_GROUPS]
    stages = list(LIFECYCLE_STAGES)
    table = Table(title=f"Commitment against lifecycle on {manifest.until.isoformat()}")
    table.add_column("commitment group")
    for stage in stages:
        table.add_column(stage.replace("_", " "), justify="right")
    table.add_column("all", justify="right")
    for group in groups:
        cells = [loaded.crosstab.get((group, stage), 0) for stage in stages]
        table.add_row(group, *(f"{c:,}" for c in cells), f"{sum(cells):,}")
    console.print(table)
    sizes = Table(title="The brand's own segments")
    for name in ("segment", "members", "entered", "exited", "what it is"):
        sizes.add_column(
            name, justify="right" if name in ("members", "entered", "exited") else "left"
        )
    for summary in loaded.summaries:
        if ":" not in summary.name:
            sizes.add_row(
                summary.name,
                f"{summary.members:,}",
                f"{summary.entered or 0:,}",
                f"{summary.exited or 0:,}",
                summary.description,
            )
    console.print(sizes)
    try:
        found = demo_commitment.calibrate(store, as_of=as_of)
    except InvalidInput as too_few:  # a small demo may have too few answers a year old
        console.print(f"Calibration: {escape(too_few.message)}.", highlight=False)
    else:
        console.print(commitment_commands.auc_table(found))
        console.print(
            f"Calibrated on {found.responses:,} users who answered at least a year ago: "
            f"{found.lapsed:,} lapsed ({found.lapse_rate:.0%}), with no purchase in the year "
            "after answering. Refit weights: regard commitment calibrate.",
            highlight=False,
        )
    with unit_of_work(store) as session:
        heard = voc.themes(session, brand=store.brand, question="more_useful")
    for result in heard:
        voc_commands.print_themes(
            result, wording=voc_commands.wording(store.brand, result.question), quotes=False
        )
    typo = 'lifecyle = "active" and count(purchase, 90d) >= 2'
    try:
        segments_service.check_rule(typo, brand=store.brand)
    except SegmentError as problem:
        console.print("A segment with a typo is refused, pointing at the typo:", highlight=False)
        console.print(f"  {escape(problem.message)}", highlight=False)
        for line in problem.pointer().splitlines():
            console.print(f"    {escape(line)}", highlight=False)


def _touchpoints(store: Store, manifest: DemoManifest) -> None:
    """The catalogue, its triggers run on the demo's last day, and the journey map."""
    now = datetime.combine(manifest.until, datetime.max.time(), tzinfo=UTC)
    with unit_of_work(store) as session:
        pending = touchpoints_repository.pending_count(session)
    touchpoint_commands.print_catalogue(store.brand, pending)
    with unit_of_work(store) as session:
        done = triggers.run_triggers(session, brand=store.brand, now=now)
    touchpoint_commands.print_triggered(done)
    with unit_of_work(store) as session:
        found = journey.read_journey(session, brand=store.brand, now=now)
    touchpoint_commands.print_journey(found)
    console.print(
        "The engine decides every candidate: consent and preferences are hard limits, the "
        "reasonableness test refuses what a person would resent, the optimiser spends the "
        "rest where it is worth most.",
        highlight=False,
    )
    try:
        decision_commands.print_report(decision_service.run_engine(store, now=now))
    except decision_service.EngineBusy as busy:
        console.print(f"Engine: {escape(str(busy))}.", highlight=False)
    console.print("Campaigns previewed before anything is sent (regard plan --dry-run):")
    decision_commands.print_preview(
        preview.preview_campaign(store, "spring_camping", by="demo", now=now)
    )
    decision_commands.print_preview(
        preview.preview_campaign(store, "climbing_offers", by="demo", now=now), tables=False
    )


def _history(
    store: Store,
    manifest: DemoManifest,
    directory: Path,
    mail_server: demo_delivery.DemoMailServer,
    *,
    seed: int,
    public_url: str,
) -> None:
    """Weeks of Regard at work before the last day, and the customers' answers."""

    def worker(clock: Callable[[], datetime]) -> Worker:
        return demo_delivery.demo_worker(
            store, directory, mail_server, public_url=public_url, clock=clock
        )

    started = time.perf_counter()
    made = demo_history.make_history(store, worker, until=manifest.until, seed=seed)
    if not made.recorded_now:
        console.print(
            "History: the weeks before the last day were made on an earlier run.", highlight=False
        )
        return
    table = Table(
        title=f"{demo_history.WEEKS} weeks before the last day: Regard at work, customers answer"
    )
    names = (
        "moment (UTC)",
        "launched",
        "candidates",
        "control group",
        "sent",
        "opened",
        "clicked",
        "orders after",
        "complaints",
        "opt-outs",
    )
    for name in names:
        table.add_column(name, justify="left" if name in names[:2] else "right")
    for done in made.rounds:
        answered = done.answered
        table.add_row(
            f"{done.moment.at:%a %Y-%m-%d %H:%M}",
            done.moment.launch or "",
            f"{done.candidates:,}",
            f"{done.control:,}",
            f"{done.delivered:,}",
            f"{answered.opened:,}",
            f"{answered.clicked:,}",
            f"{answered.purchases:,}",
            f"{answered.complained:,}",
            f"{answered.opted_out:,}",
        )
    console.print(table)
    total = made.total
    complaint_rate = total.complained / total.messages if total.messages else 0.0
    console.print(
        f"{len(made.rounds)} runs of the triggers, the engine and the delivery worker at past "
        f"moments; {total.messages:,} messages sent, {total.opened:,} opened, "
        f"{total.purchases:,} orders placed after a message ({total.revenue:,.0f} in revenue), "
        f"{total.complained:,} complaints ({complaint_rate:.2%} of messages, under the 0.3% line) "
        f"and {total.opted_out:,} unsubscribes, in {time.perf_counter() - started:.1f} s. "
        "Customers in a control group were never sent that touchpoint and buy as the history "
        "says (regard.demo.responses).",
        highlight=False,
    )


def _customer_value(store: Store, manifest: DemoManifest, directory: Path) -> None:
    """Customer value fitted on the purchases, put in the demo's regard.toml, values refreshed."""
    as_of = datetime.combine(manifest.until, datetime.max.time(), tzinfo=UTC)
    try:
        found = demo_measurement.fit_customer_value(store, directory, as_of=as_of)
    except InvalidInput as too_few:  # a tiny demo may have too few repeat buyers
        console.print(f"Customer value: {escape(too_few.message)}.", highlight=False)
        return
    m = found.fitted.purchasing
    refreshed = found.refreshed
    mean = refreshed.mean_expected_value
    console.print(
        f"Customer value fitted on {found.fitted.customers:,} buyers' purchases (BG/NBD r "
        f"{m.r:.3g}, alpha {m.alpha:.3g}, a {m.a:.3g}, b {m.b:.3g}) and put in "
        f"{found.config} as regard clv fit proposes it. Values refreshed: "
        f"{refreshed.customers_scored:,} customers scored"
        + (f" (mean expected value {mean:,.2f})" if mean is not None else "")
        + f", {refreshed.learned:,} learned touchpoint values, {refreshed.replaced:,} of them "
        "more than 10% off the configured value.",
        highlight=False,
    )


def _report(store: Store, manifest: DemoManifest, directory: Path) -> Path:
    """The measurement report on the last day: lift, health, value, budget, simulation."""
    as_of = datetime.combine(manifest.until, datetime.max.time(), tzinfo=UTC)
    started = time.perf_counter()
    simulated = demo_measurement.simulated_customers(manifest.customers)
    report, path = demo_measurement.write_demo_report(
        store, directory, as_of=as_of, simulate_customers=simulated
    )
    print_report(report, console)
    console.print(
        f"Report written to {path} in {time.perf_counter() - started:.1f} s "
        f"(the simulator drew {simulated:,} customers).",
        highlight=False,
    )
    return path


def _deliver(
    store: Store,
    manifest: DemoManifest,
    directory: Path,
    mail_server: demo_delivery.DemoMailServer,
    *,
    public_url: str,
) -> None:
    """The product's worker sends what is due: consent checked again, templates rendered,
    email through a real SMTP server on loopback, the other channels to files."""
    now = datetime.combine(manifest.until, datetime.max.time(), tzinfo=UTC)
    worker = demo_delivery.demo_worker(
        store, directory, mail_server, public_url=public_url, clock=lambda: now
    )
    try:
        report = demo_delivery.deliver_due(store, worker, mail_server)
    finally:
        worker.close()
    delivery_commands.print_summary(report.summary, worker="Delivery")
    waiting = sum(report.statuses.get(status, 0) for status in ("queued", "retry"))
    lines = [
        f"  {mail_server.handler.received:,} emails reached the SMTP server at "
        f"{mail_server.host}:{mail_server.port}; read them in {mail_server.folder}/new "
        "(one file per message; any mail client opens them, e.g. mutt -f "
        f"{mail_server.folder}).",
        f"  Texts, push notifications and calls: {directory / demo_delivery.MESSAGES_DIR}/"
        "<channel>/ (the JSON a provider would receive).",
    ]
    if waiting:
        lines.append(
            f"  {waiting:,} wait for their moment (quiet hours, preferred days, digests); the "
            "worker sends them when they fall due while the app is served."
        )
    for reason, count in list(report.problems.items())[:5]:
        lines.append(f"  {count:,} {escape(reason)}")
    if report.example is not None:
        email = report.example
        lines.append("  One of them, as a mail client shows it:")
        for header in ("Subject", "From", "List-Unsubscribe", "List-Unsubscribe-Post"):
            value = " ".join(str(email.get(header, "")).split())
            lines.append(f"    {header}: {escape(value[:110])}")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _preference_lines(store: Store, email: str, base: str, directory: Path) -> list[str]:
    found = loading.preference_links(store, email, base)
    if found is None:
        return []
    center, unsubscribe, customer_id = found
    env = _demo_env(directory)
    return [
        f"  This customer's preference center (a signed link, valid "
        f"{store.brand.preferences.link_days} days):",
        f"    {center}",
        "  One-click unsubscribe from camping offers by email (RFC 8058):",
        f"    curl -d List-Unsubscribe=One-Click {unsubscribe}",
        f"  Ask for a link by email: {base}/p   (mail lands in {directory / loading.MAIL_DIR})",
        "  The proof of their consent, and a check of the whole ledger:",
        f"    {env} .venv/bin/regard consent proof {customer_id}",
        f"    {env} .venv/bin/regard consent verify",
    ]


def _demo_env(directory: Path) -> str:
    """The environment that points ``regard`` commands at the demo's database and brand."""
    settings = loading.demo_settings(directory)
    return (
        f"REGARD_DATABASE_URL={settings.database_url} "
        f"REGARD_BRAND_CONFIG={settings.brand_config.resolve()}"
    )
