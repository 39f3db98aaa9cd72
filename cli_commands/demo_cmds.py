"""`demo`: put the built-in demo dataset into the store."""

from __future__ import annotations

import typer

from cli_commands.common import open_cli_store, print_json


def register(app: typer.Typer) -> None:
    """Add the `demo` verb to ``app``."""

    @app.command("demo")
    def demo(
        if_empty: bool = typer.Option(
            False, "--if-empty", help="Only seed when the store holds no trace at all."
        ),
        n: int = typer.Option(300, "--n", min=1, help="How many Countdown traces to generate."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same traces)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Generate and store the demo dataset (Countdown search traces, analysed).

        Example:

            python cli.py demo --if-empty

            python cli.py --db sqlite:///demo.db demo --n 1000 --seed 1
        """
        from generators.demo import DEMO_DATASET, seed_demo, seed_demo_if_empty

        with open_cli_store() as store:
            seed_fn = seed_demo_if_empty if if_empty else seed_demo
            added = seed_fn(store, n=n, seed=seed)
            total = store.count_traces()
        if as_json:
            print_json({"dataset": DEMO_DATASET, "added": added, "traces_in_store": total})
        elif added:
            typer.echo(f"added {added} demo traces to dataset '{DEMO_DATASET}' ({total} in store)")
        else:
            typer.echo(f"store already holds {total} traces; nothing added")
