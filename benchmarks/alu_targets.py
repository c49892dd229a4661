"""ALU's cost as the number of forget targets grows (issue 7: it must stay flat).

On the demo world, ALU wraps the demo target for 1, 10 and 100 target people (their QA as
the forget set, the other trained people's as retain data). The same queries are timed for
each: 20 questions about the first target person (always among the targets) and 20 about
people who are never targets; teacher-forced scoring of their answers and greedy
generation. Writes benchmarks/results/alu_targets.json.

    python benchmarks/alu_targets.py [--counts 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unlearnkit.methods import unlearn
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.runner.build import build, build_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "alu_targets.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    built = build(build_spec("demo"), progress=False, log=print)
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    by_person: dict[str, list[dict]] = {}
    for r in world.tofu["full"]:
        by_person.setdefault(r["person_id"], []).append(r)
    people = list(by_person)
    bystanders = people[-2:]  # never targets
    fmt = target.prompt_format
    queries = [r for p in (people[0], *bystanders) for r in by_person[p]][:30]
    prompts = [fmt.prompt(r["question"]) for r in queries]
    answers = [fmt.continuation(r["answer"]) for r in queries]
    results = {}
    for n in [int(c) for c in args.counts.split(",")]:
        forget = [r for p in people[:n] for r in by_person[p]]
        retain = [r for p in people[n:-2] for r in by_person[p]]
        t = time.perf_counter()
        alu, record = unlearn(target, forget, retain, "alu", progress=False)
        setup = time.perf_counter() - t
        score_s, gen_s = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            alu.score(prompts, answers)
            score_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            said = alu.generate(prompts, max_new_tokens=24)
            gen_s.append(time.perf_counter() - t)
        detected = sum(bool(alu.detect(p)) for p in prompts)
        results[n] = {
            "targets": record.details["targets"],
            "setup_s": setup,
            "score_s_per_query": min(score_s) / len(prompts),
            "generate_s_per_query": min(gen_s) / len(prompts),
            "queries": len(prompts),
            "queries_about_targets": detected,
            "values_said_about_target": sum(
                str(r["value"]) in s
                for r, s in zip(queries, said, strict=True)
                if r["person_id"] == people[0]
            ),
        }
        r = results[n]
        print(
            f"{n:>4} targets: setup {setup:.2f}s, score {1000 * r['score_s_per_query']:.1f} "
            f"ms/query, generate {1000 * r['generate_s_per_query']:.1f} ms/query, "
            f"{detected}/{len(prompts)} queries about targets"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
