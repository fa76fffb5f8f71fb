"""The `luth` command: run the demo, talk to checkpoints, trace rows, see what is stale."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from luth_pipeline.core.chat import DEFAULT_SYSTEM_PROMPT

if TYPE_CHECKING:
    from luth_pipeline.core.config import Profile

CHAT_HELP = "commands: /reset (new conversation), /system TEXT (new system prompt + reset), /exit"


def _profile_and_store(args: argparse.Namespace):
    """The profile this command runs with (`--profile`, else $LUTH_PROFILE, else local), loaded once
    here, and its dataset store."""
    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.storage import DatasetStore

    profile = load_profile(args.profile)
    return profile, DatasetStore(profile.data_uri)


def _demo(args: argparse.Namespace) -> int:
    from luth_pipeline.demo import run_demo

    return run_demo(force=args.force, selection=args.select, verbose=args.verbose, profile=args.profile)


def _load_model(args: argparse.Namespace):
    from luth_pipeline.core.chat import GenerationSettings, LoadedModel, resolve_checkpoint

    profile, store = _profile_and_store(args)
    location = resolve_checkpoint(args.checkpoint, profile, store)
    print(f"loading {args.checkpoint} from {location} …", file=sys.stderr, flush=True)
    model = LoadedModel(location, device=args.device)
    import torch

    torch.manual_seed(args.seed)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p)
    return model, settings


def _system_prompt(args: argparse.Namespace) -> str | None:
    return None if args.no_system else args.system


def _chat(args: argparse.Namespace) -> int:
    from luth_pipeline.core.chat import ChatSession

    model, settings = _load_model(args)
    session = ChatSession(model, system_prompt=_system_prompt(args), settings=settings)
    interactive = sys.stdin.isatty()
    print(f"chatting with {args.checkpoint} on {model.device}; {CHAT_HELP}", file=sys.stderr, flush=True)
    while True:
        if interactive:
            print("\n> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        text = line.strip()
        if not text:
            continue
        if text in {"/exit", "/quit"}:
            return 0
        if text == "/reset":
            session.reset()
            print("[conversation reset]", flush=True)
            continue
        if text.startswith("/system"):
            session.reset(text[len("/system") :].strip() or None)
            print(f"[system prompt set: {session.system_prompt!r}; conversation reset]", flush=True)
            continue
        if text.startswith("/"):
            print(f"[unknown command {text.split()[0]}; {CHAT_HELP}]", flush=True)
            continue
        for piece in session.stream(text):
            print(piece, end="", flush=True)
        print(flush=True)
        if not interactive:
            print(f"[turn {sum(m['role'] == 'assistant' for m in session.messages)}]", flush=True)


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise FileNotFoundError(f"--input {path} does not exist")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    prompts.append(json.loads(line)["prompt"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise ValueError(f"{path}:{n}: expected a JSON object with a `prompt` field") from None
            else:
                prompts.append(line)
    if not prompts:
        raise ValueError("nothing to generate: pass --prompt TEXT (repeatable) or --input FILE (.txt lines or .jsonl with `prompt`)")
    return prompts


def _generate(args: argparse.Namespace) -> int:
    from luth_pipeline.core.chat import generate

    prompts = _read_prompts(args)
    model, settings = _load_model(args)
    answers = generate(model, prompts, system_prompt=_system_prompt(args), settings=settings, batch_size=args.batch_size)
    rows = [{"prompt": p, "answer": a, "checkpoint": args.checkpoint} for p, a in zip(prompts, answers, strict=True)]
    if args.output:
        Path(args.output).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} answers to {args.output}", file=sys.stderr)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    return 0


def _asset_names(profile: Profile) -> list[str]:
    from luth_pipeline.definitions import build_stages

    return [key.to_user_string() for assets in build_stages(profile).assets or [] for key in assets.keys]


def _lineage(args: argparse.Namespace) -> int:
    from luth_pipeline.core.lineage import format_trace, trace
    from luth_pipeline.core.suggest import check_names

    profile, store = _profile_and_store(args)
    if not store.partition_dirs(args.asset):  # nothing there: a typo, or not materialized yet?
        check_names("asset", [args.asset], _asset_names(profile))
    chain = trace(store, args.row_id, asset=args.asset)
    if args.json:
        print(json.dumps([{"asset": s.asset, "partition": s.partition, "table": s.table, "row": s.row} for s in chain],
                         ensure_ascii=False, default=str, indent=1))
    else:
        print(format_trace(chain, show_messages=not args.no_messages))
    return 0


def _status(args: argparse.Namespace) -> int:
    from luth_pipeline.definitions import build_definitions
    from luth_pipeline.status import asset_statuses, format_statuses

    if not os.environ.get("DAGSTER_HOME"):
        raise RuntimeError("DAGSTER_HOME is not set: point it at the instance to inspect (`make` uses ./.dagster_home)")
    print(format_statuses(asset_statuses(build_definitions(args.profile), args.select, url=args.url, profile=args.profile),
                          show_fresh=args.all))
    return 0


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint key (tiny.finetuned, qwen3-0.6b.merged.slerp-070, <base>.base), a model folder, or a HF id")
    parser.add_argument("--system", default=DEFAULT_SYSTEM_PROMPT, help="system prompt (default: %(default)r)")
    parser.add_argument("--no-system", action="store_true", help="no system prompt")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:1 …")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the evaluation setting)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (reproducible answers when --temperature > 0)")


def _plan(args: argparse.Namespace) -> int:
    from luth_pipeline.core.config import load_profile
    from luth_pipeline.plan import build_plan, plan_json, render

    profile = load_profile(args.profile)
    steps = build_plan(profile, base_models=args.base_model)
    print(json.dumps(plan_json(profile, steps), indent=1) if args.json else render(profile, steps))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luth", description="Luth French post-training pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    # Every command runs with one profile, loaded once at its start.
    profile = argparse.ArgumentParser(add_help=False)
    profile.add_argument("--profile", help="profile name or YAML path (default: $LUTH_PROFILE, else local)")
    demo = sub.add_parser("demo", parents=[profile], help="materialize the whole asset graph (stale parts only) and summarize")
    demo.add_argument("--force", action="store_true", help="re-run every asset, even up-to-date ones")
    demo.add_argument("--select", nargs="*", help="only these asset keys")
    demo.add_argument("--verbose", action="store_true", help="stream every Dagster event and log line to the terminal")
    demo.set_defaults(func=_demo)

    chat = sub.add_parser("chat", parents=[profile], help="interactive streamed chat with a checkpoint", epilog=CHAT_HELP)
    _add_model_args(chat)
    chat.set_defaults(func=_chat)

    gen = sub.add_parser("generate", parents=[profile], help="answer prompts with a checkpoint (JSON lines out)")
    _add_model_args(gen)
    gen.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    gen.add_argument("--input", help="prompts file: .txt (one per line) or .jsonl (`prompt` field)")
    gen.add_argument("--output", help="write JSON lines here instead of stdout")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.set_defaults(func=_generate)

    lineage = sub.add_parser("lineage", parents=[profile], help="trace a row back to its raw source row, with every filter decision")
    lineage.add_argument("row_id", help="the row's `id` (e.g. from the luth_sft preview in the UI)")
    lineage.add_argument("--asset", default="luth_sft", help="asset holding the row (default luth_sft)")
    lineage.add_argument("--json", action="store_true", help="machine-readable output")
    lineage.add_argument("--no-messages", action="store_true", help="hide the first turn of each row")
    lineage.set_defaults(func=_lineage)

    status = sub.add_parser("status", parents=[profile], help="which assets are stale or missing in the instance, and why")
    status.add_argument("--select", nargs="*", help="only these asset keys")
    status.add_argument("--all", action="store_true", help="also list up-to-date asset partitions")
    status.add_argument("--url", help="ask the Dagster webserver at this URL (`make ui`: http://127.0.0.1:3000) instead of "
                                      "starting a code server: faster; it answers for the code it has loaded")
    status.set_defaults(func=_status)

    plan = sub.add_parser("plan", parents=[profile],
                          help="offline: every stage, what it downloads or calls, estimated tokens, GPU-hours, API cost")
    plan.add_argument("--base-model", action="append", help="only this base model (repeatable; default: all)")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.set_defaults(func=_plan)
    return parser


def _quiet_broken_pipe() -> int:
    """The reader went away (`luth lineage … | head`): stop without a traceback, as `cat` does.
    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13  # killed by SIGPIPE, the shell convention


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as exc:
        # Expected user errors (missing checkpoint/asset/row, bad input): one clear line, no traceback.
        print(f"luth {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
