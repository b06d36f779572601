"""What an outage costs one ``get_text_embedding`` call at LlamaIndex's default settings.

    .venv/bin/python benchmarks/outages.py           # virtual time: a second or two
    .venv/bin/python benchmarks/outages.py --real    # also wait for real (about four minutes)

Every request fails with the chosen fault (``faults.inject(kind, after=1)``). The retries are the real
ones: the ``openai`` client's backoff and LlamaIndex's tenacity decorator run unchanged; virtual time only
skips their sleeps. ``--real`` runs the 500 and the 429 storm again with real sleeps, to show that
virtual time changes the wall time and nothing else. (A simulated timeout raises at once outside
virtual time, so it has no real run.)
"""

from __future__ import annotations

import argparse
import logging
import time

import persistlab
from persistlab.simulator import faults

KINDS = ("server_error", "overloaded", "rate_limit", "timeout")


def run(kind: str, virtual: bool) -> tuple[int, float, float, str]:
    model = persistlab.embedding_model()
    started = time.perf_counter()
    with faults.inject(kind, after=1, virtual=virtual) as plan, persistlab.metered() as m:
        try:
            model.get_text_embedding("salt cures ham")
            outcome = "answered"
        except Exception as error:  # noqa: BLE001 - the outcome is what is measured
            outcome = type(error).__name__
    wall = time.perf_counter() - started
    waited = plan.clock.elapsed if plan.clock else wall
    return m.attempts, waited, wall, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="also run the 500 and the 429 storm in real time")
    args = parser.parse_args()
    logging.getLogger("llama_index.embeddings.openai.utils").setLevel(logging.ERROR)
    persistlab.embedding_model().get_text_embedding("warm up")
    print(f"{'fault':<14}{'time':<9}{'requests':>9}{'seconds':>10}{'wall s':>9}  raised")
    for kind in KINDS:
        requests, seconds, wall, outcome = run(kind, virtual=True)
        print(f"{kind:<14}{'virtual':<9}{requests:>9}{seconds:>10.1f}{wall:>9.2f}  {outcome}")
    if args.real:
        for kind in ("server_error", "rate_limit"):
            requests, seconds, wall, outcome = run(kind, virtual=False)
            print(f"{kind:<14}{'real':<9}{requests:>9}{seconds:>10.1f}{wall:>9.2f}  {outcome}")


if __name__ == "__main__":
    main()
