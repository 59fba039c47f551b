"""The `diskscope` command line. The only core module that prints."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from .errors import Cancelled, DiskscopeError, UnsafeImage
from .formats import ImageFormat, parse_format_name
from .policy import (
    DEFAULT_POLICY,
    InspectionPolicy,
    InvalidPolicy,
    parse_vmdk_types,
)
from .qemu.process import INSPECTION_LIMITS, Limits
from .qemu.qemu_img import QemuImg
from .qemu.results import CheckStatus
from .safety import ImageReport, inspect_image, require_safe
from .sizes import parse_size
from .text import SafeFormatter, json_text, printable, scrub
from .version import ShowVersion

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ExitCode(IntEnum):
    """The exit status of every command; the same meaning whatever the command."""

    OK = 0  # done; every image is safe; the check found nothing
    REFUSED = 1  # an image was refused or is unsafe; the check found corruption or leaks
    ERROR = 2  # an error (the sentence on stderr says which), or a bad command line
    INTERRUPTED = 130  # Ctrl-C; SIGTERM and SIGHUP give 128 + their number, as shells do


EXIT_STATUS_HELP = """exit status:
  0    done: every image is safe, the command did what was asked
  1    refused: an image is unsafe or was refused (info, check, map, measure, convert, fetch,
       glance upload),
       or `check` found corruption or leaks
  2    error: the sentence on stderr says what; also a command line that cannot be used
  130  interrupted by Ctrl-C (128 + the signal number for SIGTERM and SIGHUP)"""


def _format_arg(text: str) -> ImageFormat:
    try:
        return parse_format_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number.") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than zero.")
    return value


def _policy_arg(parse: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except InvalidPolicy as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _policy_options() -> argparse.ArgumentParser:
    """--vmdk-allowed-types and --max-virtual-size, for info, convert and fetch."""
    policy = argparse.ArgumentParser(add_help=False)
    policy.add_argument(
        "--vmdk-allowed-types", type=_policy_arg(parse_vmdk_types), metavar="TYPES",
        help="the VMDK create types to accept, comma-separated (default and widest: "
        "monolithicSparse,streamOptimized; an empty list accepts no VMDK)",
    )  # fmt: skip
    policy.add_argument(
        "--max-virtual-size", type=_size_arg, metavar="SIZE",
        help="refuse a disk larger than this, e.g. 20G (K, M, G, T, P, E: binary units; default: no limit)",
    )  # fmt: skip
    return policy


def _policy(args: argparse.Namespace) -> InspectionPolicy:
    types = args.vmdk_allowed_types
    return InspectionPolicy(
        DEFAULT_POLICY.vmdk_allowed_types if types is None else types, args.max_virtual_size
    )


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped command, choice or option."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, _unknown(str(value), list(action.choices), "choose from"))

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[Any, list[str]]:
        """Refuse what this (sub)command does not know here, where its own options are known."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras) + _hint(extras, self._options()))
        return namespace, extras

    def _options(self) -> list[str]:
        return [name for action in self._actions for name in action.option_strings]


def _unknown(value: str, known: list[str], lead: str) -> str:
    import difflib  # for mistakes only: not every start-up pays for it

    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f"invalid choice: {value!r}; did you mean {close[0]!r}?"
    return f"invalid choice: {value!r} ({lead} {', '.join(map(repr, known))})"


def _hint(extras: list[str], options: list[str]) -> str:
    import difflib

    for extra in extras:
        close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.7)
        if extra.startswith("-") and close:
            return f"; did you mean {close[0]}?"
    return ""


def _global_options(parser: argparse.ArgumentParser, default: Callable[[object], object]) -> None:
    """The options every command takes, before the command or after it."""
    parser.add_argument(
        "--qemu-img", metavar="PATH", default=default(None), help="the qemu-img binary to use"
    )
    cpu, mib = INSPECTION_LIMITS.cpu_seconds, INSPECTION_LIMITS.memory_bytes >> 20
    parser.add_argument(
        "--cpu-limit", type=_positive_int, default=default(cpu), metavar="SECONDS",
        help=f"CPU time qemu-img may use per call (default {cpu})",
    )  # fmt: skip
    parser.add_argument(
        "--memory-limit", type=_positive_int, default=default(mib), metavar="MIB",
        help=f"address space qemu-img may use (default {mib} MiB)",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="log every step to stderr"
    )


def _suppressed(_value: object) -> object:
    return argparse.SUPPRESS


def _global_defaults() -> dict[str, Any]:
    defaults = argparse.ArgumentParser(add_help=False)
    _global_options(defaults, lambda value: value)
    return vars(defaults.parse_args([]))


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what add_subparsers returns


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that command's options (the others are
    listed, with their help, but take none): a run builds only what it parses, which saves
    most of argparse's start-up and the imports the other commands' options need."""
    # Given before and after the command, the options are parsed twice: neither parse has a
    # default, else a subcommand's default would overwrite what was given before it.
    common: argparse.ArgumentParser = _Parser(add_help=False)
    _global_options(common, _suppressed)
    parser: argparse.ArgumentParser = _Parser(  # its subcommands are _Parsers too
        prog="diskscope",
        description="Inspect, verify, convert and fetch virtual-machine disk images, safely. "
        "With no command, or only image files and the window's options (diskscope-gui --help), "
        "the window opens.",
        epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action=ShowVersion)
    _global_options(parser, _suppressed)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, add) in _SUBCOMMANDS.items():
        if command in (None, name):
            add(sub, common, summary)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _add_info(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    info = sub.add_parser("info", parents=[common, _policy_options()], help=summary)
    info.add_argument("paths", nargs="+", metavar="PATH")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--format", type=_format_arg, metavar="FORMAT",
        help="the format the image claims to be; a different content is refused",
    )  # fmt: skip
    _add_keyring(info)
    info.set_defaults(func=cmd_info)


def _add_check(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    check = sub.add_parser("check", parents=[common], help=summary)
    check.add_argument("path", metavar="PATH")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=cmd_check)


def _add_map(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    amap = sub.add_parser("map", parents=[common], help=summary)
    amap.add_argument("path", metavar="PATH")
    amap.add_argument("--json", action="store_true", help="print JSON")
    amap.add_argument(
        "--max-length", type=_size_arg, metavar="SIZE",
        help="map at most this much of the disk, e.g. 1G (default: all of it)",
    )  # fmt: skip
    amap.set_defaults(func=cmd_map)


def _add_measure(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    measure = sub.add_parser("measure", parents=[common], help=summary)
    measure.add_argument("path", metavar="PATH")
    measure.add_argument(
        "-O", dest="target", required=True, type=_format_arg, metavar="FORMAT",
        help="target format",
    )  # fmt: skip
    measure.add_argument("--json", action="store_true", help="print JSON")
    measure.set_defaults(func=cmd_measure)


def _add_completion(sub: Subcommands, _common: argparse.ArgumentParser, summary: str) -> None:
    completion = sub.add_parser("completion", help=summary)
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    completion.set_defaults(func=cmd_completion)


def _add_man(sub: Subcommands, _common: argparse.ArgumentParser, summary: str) -> None:
    sub.add_parser("man", help=summary).set_defaults(func=cmd_man)


def cmd_completion(args: argparse.Namespace) -> int:
    """`source <(diskscope completion bash)`, or save it where the shell loads completions from."""
    from . import completion

    generate = {"bash": completion.bash, "zsh": completion.zsh, "fish": completion.fish}[args.shell]
    print(generate(build_parser()), end="")
    return ExitCode.OK


def cmd_man(args: argparse.Namespace) -> int:
    from .completion import man

    print(man(build_parser()), end="")
    return ExitCode.OK


def _qemu(args: argparse.Namespace) -> QemuImg:
    limits = Limits(cpu_seconds=args.cpu_limit, memory_bytes=args.memory_limit << 20)
    return QemuImg(args.qemu_img, limits)


def _say(message: str) -> None:
    """One sentence on stderr, never with a secret or a raw control character in it."""
    print(f"diskscope: {printable(scrub(message))}", file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> int:
    from .appliance.appliance import ApplianceReport, inspect_appliance, is_appliance

    qemu, policy = _qemu(args), _policy(args)

    def one(path: str) -> ImageReport | ApplianceReport | DiskscopeError:
        try:
            if is_appliance(path):
                return inspect_appliance(path, qemu, policy)
            return inspect_image(path, qemu, args.format, policy, unpack=True)
        except DiskscopeError as exc:
            return exc
        except Exception as exc:  # a bug must not cost the other files their reports
            logger.debug("unexpected error inspecting %s", path, exc_info=True)
            return DiskscopeError(f"{os.path.abspath(path)} could not be inspected (unexpected "
                                  f"{type(exc).__name__}); run with --verbose for details.")  # fmt: skip

    if len(args.paths) == 1:
        results = [one(args.paths[0])]
    else:
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(args.paths), 2 * (os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, args.paths))

    from .appliance.describe import format_appliance
    from .report.terminal import format_report

    status = ExitCode.OK
    objects: list[dict[str, Any]] = []
    for path, result in zip(args.paths, results, strict=True):
        if isinstance(result, DiskscopeError):
            _say(str(result))
            objects.append({"path": os.path.abspath(path), "error": str(result)})
            status = max(status, ExitCode.REFUSED if isinstance(result, UnsafeImage) else ExitCode.ERROR)
            continue
        if not result.safe and status == ExitCode.OK:
            status = ExitCode.REFUSED
        objects.append(result.to_json())
        if args.json:
            continue
        if isinstance(result, ApplianceReport):
            print(format_appliance(result))
        else:
            print(format_report(result))
            if not _print_sums_check(result.path, args.keyring) and status == ExitCode.OK:
                status = ExitCode.REFUSED
    if args.json:
        out: Any = objects[0] if len(objects) == 1 else objects
        if len(objects) > 1 or "error" not in objects[0]:
            print(json_text(out))
    return status


def _add_keyring(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keyring", type=Path, metavar="FILE",
        help="verify a checksum file's GPG signature (SHA256SUMS.gpg, a clearsigned CHECKSUM) "
        "against this keyring, e.g. /usr/share/keyrings/ubuntu-cloudimage-keyring.gpg; "
        "without one the signature is not checked",
    )  # fmt: skip


def _print_sums_check(path: Path, keyring: Path | None) -> bool:
    """A SHA256SUMS (or NAME.sha256) beside the image: whether the image matches it.
    False for a refusal: a mismatch, or a signature gpgv refused."""
    from .fetch.sums import check_against_sums

    try:
        check = check_against_sums(path, keyring=keyring)
    except UnsafeImage as exc:
        _say(str(exc))
        return False
    except DiskscopeError as exc:  # with a keyring, a signature that could not be checked refuses
        _say(str(exc))
        return keyring is None
    if check is not None:
        print(f"  Checksum: {printable(check.sentence())}")
        return check.matches
    return True


def _one_image(path: str, qemu: QemuImg) -> ImageReport:
    """A single image's report; an OVA or OVF is named as what it is, with what to run."""
    from .appliance.appliance import is_appliance

    if is_appliance(path):
        raise DiskscopeError(
            f"{os.path.abspath(path)} is an appliance, not one image: `diskscope info` judges each "
            "of its disks, `diskscope convert --disk N` converts one."
        )
    return inspect_image(path, qemu)


def cmd_check(args: argparse.Namespace) -> int:
    from .report.terminal import format_check

    qemu = _qemu(args)
    report = require_safe(_one_image(args.path, qemu))
    result = qemu.check(report.path, report.format.qemu_driver)
    if args.json:
        data = {k: getattr(result, k) for k in result.__dataclass_fields__}
        data.update(path=str(report.path), summary=result.summary)
        print(json.dumps(data, indent=2))
    else:
        print(format_check(str(report.path), result))
    return _CHECK_EXIT.get(result.status, ExitCode.ERROR)


# qemu-img check's own status (0/1/2/3/63) is in --json's exit_code; ours means the same in
# every command.
_CHECK_EXIT = {CheckStatus.CLEAN: ExitCode.OK, CheckStatus.LEAKS: ExitCode.REFUSED,
               CheckStatus.CORRUPT: ExitCode.REFUSED}  # fmt: skip


def cmd_map(args: argparse.Namespace) -> int:
    from .report.terminal import format_map

    qemu = _qemu(args)
    report = require_safe(_one_image(args.path, qemu))
    length = args.max_length or report.virtual_size or 0
    extents = qemu.map(report.path, report.format.qemu_driver, max_length=max(length, 1))
    if args.json:
        print(json.dumps([e.__dict__ for e in extents], indent=2))
    else:
        print(format_map(extents))
    return ExitCode.OK


def cmd_measure(args: argparse.Namespace) -> int:
    from .sizes import size_with_exact

    qemu = _qemu(args)
    report = require_safe(_one_image(args.path, qemu))
    result = qemu.measure(report.path, report.format.qemu_driver, args.target.qemu_driver)
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
    else:
        print(f"required        {size_with_exact(result.required)}")
        print(f"fully allocated {size_with_exact(result.fully_allocated)}")
    return ExitCode.OK


def _add_convert(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    from .convert.presets import PRESETS
    from .convert.request import TARGETS
    from .convert.verification import Verification, describe

    convert = sub.add_parser(
        "convert", parents=[common, _policy_options()], help=summary,
        epilog="presets: " + "; ".join(f"{p.name}: {p.why}" for p in PRESETS.values()),
    )  # fmt: skip
    convert.add_argument("source", metavar="SRC")
    convert.add_argument("destination", metavar="DST")
    target = convert.add_mutually_exclusive_group(required=True)
    target.add_argument("-O", dest="target", choices=TARGETS, help="target format")
    target.add_argument("--preset", choices=sorted(PRESETS), help="a named target")
    convert.add_argument("--subformat", help="vmdk: monolithicSparse, streamOptimized; "
                         "vpc, vhdx: dynamic, fixed")  # fmt: skip
    convert.add_argument(
        "--compress", nargs="?", const="zlib", choices=("zlib", "zstd"),
        help="compress a qcow2 target (default zlib)",
    )  # fmt: skip
    convert.add_argument("--preallocation", choices=("off", "metadata", "falloc", "full"))
    convert.add_argument("--cluster-size", type=_size_arg, metavar="SIZE", help="e.g. 64K")
    convert.add_argument("--compat", choices=("0.10", "1.1"), help="qcow2 compatibility level")
    convert.add_argument(
        "-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
        help="a qemu-img -o option from an allow-list (never backing_file or data_file)",
    )  # fmt: skip
    convert.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    verify = convert.add_mutually_exclusive_group()
    verify.add_argument(
        "--verify", nargs="?", choices=[v.value for v in Verification], const=Verification.FULL,
        default=Verification.STRUCTURE, metavar="LEVEL",
        help=f"structure (the default): {describe(Verification.STRUCTURE)} "
        f"full (or --verify alone): {describe(Verification.FULL)}",
    )  # fmt: skip
    verify.add_argument(
        "--no-verify", dest="verify", action="store_const", const=Verification.STRUCTURE,
        help="no byte-for-byte comparison: the same as the default, for older scripts",
    )  # fmt: skip
    convert.add_argument(
        "--allow-owned-backing", action="store_true",
        help="convert (and flatten) an image with a backing chain you own",
    )  # fmt: skip
    convert.add_argument(
        "--rate-limit", type=_size_arg, metavar="SIZE",
        help="throttle the conversion's I/O to this many bytes a second, e.g. 10M (qemu-img -r), "
        "to spare shared storage",
    )  # fmt: skip
    convert.add_argument(
        "--stall-timeout", type=_positive_int, default=300, metavar="SECONDS",
        help="stop qemu-img when it makes no progress and does no I/O this long (default %(default)s)",
    )  # fmt: skip
    convert.add_argument(
        "--disk", type=_positive_int, metavar="N",
        help="of an OVA or OVF, convert only disk N (as `info` numbers them); DST may then be a file",
    )  # fmt: skip
    convert.add_argument("--json", action="store_true", help="print the result as JSON")
    convert.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from .appliance.appliance import is_appliance
    from .convert.job import ConvertJob
    from .convert.request import ConvertRequest
    from .convert.verification import Verification
    from .packed.convert import PackedConvertJob
    from .packed.magic import file_packing

    options = dict(
        subformat=args.subformat, compression=args.compress, preallocation=args.preallocation,
        cluster_size=args.cluster_size, compat=args.compat, overwrite=args.overwrite,
        verify=Verification(args.verify), allow_owned_backing=args.allow_owned_backing,
        rate_limit=args.rate_limit, stall_timeout=args.stall_timeout,
    )  # fmt: skip
    source, destination = Path(args.source), Path(args.destination)
    if args.preset:
        request = ConvertRequest.from_preset(args.preset, source, destination, **options)
        request = replace(request, extra_options=request.extra_options + tuple(args.options))
    else:
        request = ConvertRequest(
            source, destination, args.target, extra_options=tuple(args.options), **options
        )
    request = replace(request, policy=_policy(args))
    qemu = _qemu(args)
    if is_appliance(source):
        return _convert_appliance(args, request, qemu)
    if args.disk is not None:
        raise DiskscopeError("--disk is for an OVA or OVF appliance, and the source is a single image.")
    # A compressed source is inflated first (core/packed/convert.py).
    job_type = PackedConvertJob if file_packing(source) is not None else ConvertJob
    job = job_type(request, qemu, on_progress=_progress_printer(args.quiet))
    result = _run_cancellable(job.run, job.cancel)
    _end_progress(args.quiet)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_conversion(result)
    return ExitCode.OK


def _convert_appliance(args: argparse.Namespace, request: Any, qemu: QemuImg) -> int:
    """Every disk of an OVA or OVF (or --disk N), each from its bytes inside the appliance."""
    from .appliance.appliance import inspect_appliance
    from .appliance.convert import ApplianceConvertJob, plan_appliance

    report = inspect_appliance(request.source, qemu, request.policy)
    plans = plan_appliance(report, request, qemu, args.disk)
    job = ApplianceConvertJob(plans, qemu, on_progress=_progress_printer(args.quiet))
    results = _run_cancellable(job.run, job.cancel)
    _end_progress(args.quiet)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return ExitCode.OK
    for item, result in zip(plans, results, strict=True):
        print(f"disk {item.disk.index} ({printable(item.disk.href or '')}):")
        _print_conversion(result)
    return ExitCode.OK


def _print_conversion(result: Any) -> None:
    print(f"{printable(str(result.output))}: {result.format}, {result.virtual_size:,} bytes "
          f"virtual, {result.disk_usage:,} bytes on disk, in {result.duration:.1f} s")  # fmt: skip
    for check in result.checks:
        print(f"  verified: {printable(check)}")
    print(f"  command: {printable(result.command)}")


def _given_token(args: argparse.Namespace) -> str | None:
    from .fetch.http import check_token, read_token_file

    if args.token_file:
        return read_token_file(args.token_file)
    if args.token:
        return check_token(args.token, "The --token value")
    for name in ("OS_AUTH_TOKEN", "OS_TOKEN"):
        if os.environ.get(name):
            return check_token(os.environ[name], f"${name}")
    return None


def _http_options(args: argparse.Namespace, login: Any = None) -> Any:
    from .fetch.http import HttpOptions

    if args.insecure:
        _say("warning: TLS verification is off; anyone on the network path can alter the image.")
    token = None if login is not None else _given_token(args)
    ca_bundle = args.ca_bundle or (login.settings.get("cacert") if login is not None else None)
    return HttpOptions(token=token, ca_bundle=ca_bundle, insecure=args.insecure, login=login)


def _connect(args: argparse.Namespace, endpoint: str | None) -> tuple[Any, str | None]:
    """HTTP options and the Glance endpoint: a Keystone login when the command line, the
    OS_* variables or a named cloud give an auth URL (the catalog gives the endpoint unless
    one is given), else the token as given."""
    from .cloud.auth import KeystoneLogin, gather
    from .cloud.glance import endpoint_from_env

    options = {name: getattr(args, f"os_{name}") for name in _CLOUD_OPTIONS}
    settings = gather({**options, "token": _given_token(args)})
    endpoint = endpoint or endpoint_from_env()
    if not settings.wants_login:
        return _http_options(args), endpoint
    login = KeystoneLogin(settings, args.ca_bundle, args.insecure)
    endpoint = endpoint or login.image_endpoint()
    logger.info("logged in: %s", login.info(endpoint).describe())
    return _http_options(args, login), endpoint


_CLOUD_OPTIONS = ("cloud", "auth_url", "auth_type", "username", "password", "project_name", "project_id",
                  "user_domain_name", "project_domain_name", "application_credential_id",
                  "application_credential_secret", "region_name", "interface")  # fmt: skip


def _add_http(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-file", metavar="FILE",
                        help="read the X-Auth-Token from the only line of FILE (preferred)")  # fmt: skip
    parser.add_argument(
        "--token", help="the X-Auth-Token itself; other users can read it in `ps`, so prefer "
        "--token-file or $OS_AUTH_TOKEN (the default)",
    )  # fmt: skip
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to verify TLS with")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS (warned)")
    cloud = parser.add_argument_group(
        "cloud login (as openstackclient: these options, then OS_* variables, then clouds.yaml)"
    )
    for name in _CLOUD_OPTIONS:
        flag = "--os-" + name.replace("_", "-")
        secret = name in ("password", "application_credential_secret")
        help_text = ("other users can read it in `ps`: prefer the OS_* variable or secure.yaml"
                     if secret else f"default: $OS_{name.upper()}")  # fmt: skip
        cloud.add_argument(flag, dest=f"os_{name}", metavar=name.split("_")[-1].upper(), help=help_text)


def _add_fetch(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    fetch = sub.add_parser("fetch", parents=[common, _policy_options()], help=summary)
    fetch.add_argument("source", metavar="URL_OR_IMAGE",
                       help="an http(s) URL, a Glance image URL, or a Glance image id or name")  # fmt: skip
    fetch.add_argument("destination", metavar="DEST", help="a file name or an existing folder")
    raw = fetch.add_mutually_exclusive_group()
    raw.add_argument("--to-raw", dest="to_raw", action="store_true", default=True,
                     help="convert to raw after download (the default)")  # fmt: skip
    raw.add_argument("--keep-format", dest="to_raw", action="store_false",
                     help="keep the downloaded format")  # fmt: skip
    fetch.add_argument(
        "--endpoint", default=None, help="Glance endpoint (default: $OS_IMAGE_URL, else the cloud's catalog)"
    )
    fetch.add_argument("--sha256", metavar="HEX", help="the expected sha256")
    fetch.add_argument("--checksum", metavar="ALGO:HEX", help="an expected checksum")
    fetch.add_argument(
        "--checksums", choices=("auto", "none"), default="none",
        help="auto: look for SHA256SUMS, SHA512SUMS, NAME.sha256, ... beside the URL and verify against it",
    )  # fmt: skip
    fetch.add_argument(
        "--checksums-url", metavar="URL",
        help="the published checksum file (SHA256SUMS, CHECKSUM, ...) that lists the image",
    )  # fmt: skip
    _add_keyring(fetch)
    fetch.add_argument("--unverified", action="store_true",
                       help="accept a download that nothing can verify")  # fmt: skip
    fetch.add_argument("--overwrite", action="store_true", help="replace DEST if it exists")
    fetch.add_argument(
        "--stall-timeout", type=_positive_int, default=120, metavar="SECONDS",
        help="give up (keeping what arrived, to resume) when less than 64 KiB arrive in this "
        "many seconds (default %(default)s)",
    )  # fmt: skip
    fetch.add_argument("--json", action="store_true", help="print the result as JSON")
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_http(fetch)
    fetch.set_defaults(func=cmd_fetch)


def _add_glance(sub: Subcommands, common: argparse.ArgumentParser, summary: str) -> None:
    glance = sub.add_parser("glance", help=summary)
    glance_sub = glance.add_subparsers(dest="glance_command", required=True, metavar="COMMAND")
    listing = glance_sub.add_parser("list", parents=[common], help="list images")
    listing.add_argument(
        "endpoint", nargs="?", help="Glance endpoint (default: $OS_IMAGE_URL, else the cloud's catalog)"
    )
    for name in ("name", "status", "disk-format", "visibility"):
        listing.add_argument(f"--{name}", help=f"only images with this {name.replace('-', ' ')}")
    listing.add_argument("--json", action="store_true", help="print JSON")
    _add_http(listing)
    listing.set_defaults(func=cmd_glance_list)
    show = glance_sub.add_parser("show", parents=[common], help="show one image's record")
    show.add_argument("args", nargs="+", metavar="[ENDPOINT] ID",
                      help="the image id or name, after the endpoint unless OS_IMAGE_URL is set")  # fmt: skip
    show.add_argument("--json", action="store_true", help="print JSON")
    _add_http(show)
    show.set_defaults(func=cmd_glance_show)
    _add_glance_upload(glance_sub, common)


def _add_glance_upload(glance_sub: argparse._SubParsersAction[argparse.ArgumentParser],
                       common: argparse.ArgumentParser) -> None:  # fmt: skip
    from .cloud.upload import UploadMethod
    from .convert.presets import PRESETS

    upload = glance_sub.add_parser(
        "upload", parents=[common, _policy_options()],
        help="publish a local image: inspected, streamed and hashed, then checked against Glance's record",
    )  # fmt: skip
    upload.add_argument("image", metavar="IMAGE")
    upload.add_argument("--endpoint", help="Glance endpoint (default: $OS_IMAGE_URL, else the catalog's)")
    upload.add_argument("--name", help="the image's name (default: the file's name)")
    upload.add_argument("--disk-format", help="must be what the inspection finds (it is the default)")
    upload.add_argument("--visibility", choices=("private", "shared", "community", "public"))
    upload.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                        help="an image property, checked against the server's schema")  # fmt: skip
    upload.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    upload.add_argument("--protected", action="store_true", help="protect the image once it is verified")
    upload.add_argument("--min-disk", type=_positive_int, metavar="GB")
    upload.add_argument("--min-ram", type=_positive_int, metavar="MB")
    upload.add_argument(
        "--method", choices=[m.value for m in UploadMethod], default=UploadMethod.AUTO.value,
        help="auto (the default): glance-direct where the server offers it, else put",
    )  # fmt: skip
    upload.add_argument("--url", help="web-download: where Glance fetches the same image from")
    upload.add_argument(
        "--convert-to", choices=("raw", "qcow2", *sorted(p for p in PRESETS if p.startswith("openstack"))),
        help="convert first, into a temporary file next to IMAGE (removed afterwards)",
    )  # fmt: skip
    upload.add_argument("--keep-on-failure", action="store_true",
                        help="keep the image record when the upload fails or is cancelled")  # fmt: skip
    upload.add_argument(
        "--stall-timeout", type=_positive_int, default=120, metavar="SECONDS",
        help="give up when the server takes no data this long (default %(default)s)",
    )  # fmt: skip
    upload.add_argument("--json", action="store_true", help="print the result as JSON")
    upload.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_http(upload)
    upload.set_defaults(func=cmd_glance_upload)


def cmd_fetch(args: argparse.Namespace) -> int:
    from .cloud.glance import parse_image_url
    from .fetch.pipeline import FetchJob, FetchRequest

    if args.sha256 and args.checksum:
        raise DiskscopeError("Give either --sha256 or --checksum, not both.")
    checksum = f"sha256:{args.sha256}" if args.sha256 else args.checksum
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", args.source) and parse_image_url(args.source) is None:
        options, endpoint = _http_options(args), None  # a plain URL: no cloud login
    else:
        options, endpoint = _connect(args, args.endpoint)
    request = FetchRequest(
        source=args.source, destination=Path(args.destination), options=options,
        endpoint=endpoint, checksum=checksum, to_raw=args.to_raw,
        overwrite=args.overwrite, allow_unverified=args.unverified, policy=_policy(args),
        stall_timeout=args.stall_timeout, checksums_url=args.checksums_url,
        checksums_auto=args.checksums == "auto", keyring=args.keyring,
    )  # fmt: skip
    job = FetchJob(request, _qemu(args), on_progress=_progress_printer(args.quiet))
    result = _run_cancellable(job.run, job.cancel)
    _end_progress(args.quiet)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return ExitCode.OK
    if result.appliance is not None:
        from .appliance.describe import format_appliance

        print(format_appliance(result.appliance))
        print(
            f"  convert its disks with: diskscope convert {printable(str(result.destination))} FOLDER -O raw"
        )
    how = "converted to raw" if result.conversion else "kept as downloaded"
    if result.packed:
        how = f"decompressed from {result.packed}, " + ("converted to raw" if result.conversion else "kept")
    print(f"{printable(str(result.destination))}: {result.format} ({how}), "
          f"{result.download.size:,} bytes fetched")  # fmt: skip
    for check in result.download.verified_by:
        print(f"  verified: {printable(check)}")
    if result.download.unverified:
        print("  UNVERIFIED: no checksum was available; you accepted that.")
    if result.conversion:
        for check in result.conversion.checks:
            print(f"  verified: {printable(check)}")
    return ExitCode.OK


def _glance(args: argparse.Namespace, endpoint: str | None) -> Any:
    from .cloud.glance import GlanceClient

    options, endpoint = _connect(args, endpoint)
    if not endpoint:
        raise DiskscopeError("Give the Glance endpoint, or log in to a cloud (--os-cloud, OS_CLOUD, "
                             "or an openrc file's OS_AUTH_URL), or set OS_IMAGE_URL.")  # fmt: skip
    return GlanceClient(endpoint, options)


def cmd_glance_list(args: argparse.Namespace) -> int:
    from .sizes import human_size

    client = _glance(args, args.endpoint)
    images = client.images(name=args.name, status=args.status, disk_format=args.disk_format,
                           visibility=args.visibility)  # fmt: skip
    if args.json:
        print(json.dumps([i.to_json() for i in images], indent=2))
        return ExitCode.OK
    print(f"{'ID':<36}  {'NAME':<28} {'STATUS':<9} {'FORMAT':<7} {'SIZE':>10}")
    for i in images:
        size = human_size(i.size) if i.size is not None else "-"
        name, status, fmt = (printable(t) for t in (i.name or "", i.status, i.disk_format or "-"))
        print(f"{printable(i.id):<36}  {name[:28]:<28} {status:<9} {fmt:<7} {size:>10}")
    return ExitCode.OK


def cmd_glance_show(args: argparse.Namespace) -> int:
    if len(args.args) > 2:
        raise DiskscopeError("glance show takes an endpoint and one image id or name.")
    endpoint, wanted = args.args if len(args.args) == 2 else (None, args.args[0])
    image = _glance(args, endpoint).find(wanted)
    if args.json:
        print(json.dumps(image.raw, indent=2))
    else:
        for key, value in image.to_json().items():
            print(f"{key:<17} {printable(str(value))}")
    return ExitCode.OK


def _key_values(given: list[str]) -> dict[str, str]:
    found = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DiskscopeError(f"--property takes KEY=VALUE, not {printable(item)!r}.")
        found[key.strip()] = value
    return found


def cmd_glance_upload(args: argparse.Namespace) -> int:
    from .cloud.upload import UploadJob, UploadMethod, UploadRequest, resume_warning

    request = UploadRequest(
        Path(args.image), name=args.name, disk_format=args.disk_format, visibility=args.visibility,
        properties=_key_values(args.property), tags=tuple(args.tag), protected=args.protected,
        min_disk=args.min_disk, min_ram=args.min_ram, method=UploadMethod(args.method), url=args.url,
        convert_to=args.convert_to, keep_on_failure=args.keep_on_failure, policy=_policy(args),
        stall_timeout=args.stall_timeout,
    )  # fmt: skip
    client = _glance(args, args.endpoint)
    warning = resume_warning(os.stat(args.image).st_size) if os.path.isfile(args.image) else None
    if warning and not args.quiet:
        _say(f"note: {warning}")
    job = UploadJob(request, client, _qemu(args), _progress_printer(args.quiet))
    result = _run_cancellable(job.run, job.cancel)
    _end_progress(args.quiet)
    if args.json:
        print(json_text(result.to_json()))
        return ExitCode.OK
    image = result.image
    print(f"{printable(image.name or '')} ({image.id}): {image.status}, {result.disk_format}, "
          f"{result.size:,} bytes, sent by {result.method.value}")  # fmt: skip
    for check in result.verified:
        print(f"  verified: {printable(check)}")
    for note in result.notes:
        print(f"  note: {printable(note)}")
    for s in result.suggestions:
        print(f"  suggestion: {s.key}={s.value} ({s.reason}); set it with --property {s.key}={s.value}")
    return ExitCode.OK


def _progress_printer(quiet: bool) -> Callable[[Any], None] | None:
    if quiet or not sys.stderr.isatty():
        return None
    from .progress import format_progress

    def show(progress: Any) -> None:
        print("\r\x1b[K" + format_progress(progress), end="", file=sys.stderr, flush=True)

    return show


def _end_progress(quiet: bool) -> None:
    if not quiet and sys.stderr.isatty():
        print(file=sys.stderr)


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C; the exit status is 128 + the signal number."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def _stop_on_signal(signo: int, _frame: object) -> None:
    raise _Stopped(signo)


def _run_cancellable(work: Callable[[], T], cancel: threading.Event) -> T:
    """Run `work` in a thread so that Ctrl-C, SIGTERM or SIGHUP can ask it to cancel and
    wait for its clean-up.

    The wait is on an Event, not on Thread.join: a join interrupted by Ctrl-C can
    return early on a second call, before the job has removed its partial output.
    A second signal during the clean-up is ignored for the same reason.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return _wait_for(work, cancel, ())
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signo: signal.getsignal(signo) for signo in stopping}
    for signo in stopping[1:]:
        signal.signal(signo, _stop_on_signal)
    try:
        return _wait_for(work, cancel, stopping)
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler)


def _wait_for(work: Callable[[], T], cancel: threading.Event, stopping: tuple[int, ...]) -> T:
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="diskscope-job", daemon=True).start()
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt as stop:
        cancel.set()
        for signo in stopping:
            signal.signal(signo, lambda *_: None)
        finished.wait()
        error = outcome.get("error")
        if isinstance(error, Cancelled) and isinstance(stop, _Stopped):
            error.signo = stop.signo
        if isinstance(error, DiskscopeError):
            raise error from None  # it says what the job kept or removed
        raise
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["result"]
    return result


def _open_window(argv: Sequence[str]) -> int:
    from ..gui.app import main as gui_main

    return gui_main(list(argv))


# Each command: its line in `diskscope --help`, and what builds its parser.
_SUBCOMMANDS: dict[str, tuple[str, Callable[[Subcommands, argparse.ArgumentParser, str], None]]] = {
    "info": ("describe images and say whether they are safe", _add_info),
    "check": ("check an image's integrity", _add_check),
    "map": ("show which ranges hold data", _add_map),
    "measure": ("how much space a conversion needs", _add_measure),
    "convert": ("convert an image, with progress and verification", _add_convert),
    "fetch": ("download an image (URL or Glance), verify it, and by default convert it to raw", _add_fetch),
    "glance": ("browse a Glance image service", _add_glance),
    "completion": ("print a shell completion script", _add_completion),
    "man": ("print the man page (roff): diskscope man | man -l -", _add_man),
}
_COMMANDS = tuple(_SUBCOMMANDS)
_GLOBAL_VALUED = ("--qemu-img", "--cpu-limit", "--memory-limit")  # the global options that take a value


def _command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` runs, found as argparse will find it (after the global options,
    which it lets be abbreviated); None when that is not plain."""
    words = iter(argv)
    for word in words:
        if word.startswith("--") and "=" not in word and any(o.startswith(word) for o in _GLOBAL_VALUED):
            next(words, None)
        elif not word.startswith("-"):
            return word if word in _SUBCOMMANDS else None
    return None


def _for_the_window(argv: Sequence[str]) -> bool:
    """Nothing, or only existing files and folders and the window's own options: the window's."""
    if argv and argv[0] in _COMMANDS:
        return False
    from ..gui.app import build_parser as window_parser  # argparse only, no Qt

    takes_value: dict[str, bool] = {}
    for action in window_parser()._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction | ShowVersion):
            takes_value.update(dict.fromkeys(action.option_strings, action.nargs != 0))
    words = iter(argv)
    for word in words:
        option = word.split("=", 1)[0]
        if option in takes_value:
            if takes_value[option] and "=" not in word:
                next(words, None)
        elif word.startswith("-") or not os.path.exists(word):
            return False
    return True


@contextmanager
def _log_to_stderr(verbose: bool) -> Iterator[None]:
    """Ours, and what requests and urllib3 log, made safe; undone when the command ends, so
    that `main` can run again in the same process (the tests)."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _for_the_window(argv):
        return _open_window(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    for name, value in _global_defaults().items():
        if not hasattr(args, name):
            setattr(args, name, value)
    with _log_to_stderr(args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DiskscopeError as exc:
        if getattr(args, "quiet", True) is False and sys.stderr.isatty():
            print(file=sys.stderr)
        _say(str(exc))
        if isinstance(exc, Cancelled):
            return 128 + exc.signo
        return ExitCode.REFUSED if isinstance(exc, UnsafeImage) else ExitCode.ERROR
    except KeyboardInterrupt as exc:
        _say("interrupted.")
        return 128 + exc.signo if isinstance(exc, _Stopped) else ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.ERROR
    except Exception as exc:  # a bug: one sentence, the traceback only with --verbose
        logger.debug("unexpected error", exc_info=True)
        _say(f"unexpected error ({type(exc).__name__}: {exc}); run with --verbose for details.")
        return ExitCode.ERROR
