"""Jinja2's sandbox that keeps a render within its budget (template_budget.py): iterations, sizes, depth, time.

A Python thread cannot be stopped from outside, so a render watches its own budget as it goes. The code
generator routes every loop's iterable, every literal list, tuple and dict, every `~` and every output buffer
through the environment, and the environment checks operators, calls, filters and `str.format` before they run:
anything that could build something huge (a doubled string, `center(10**9)`, a list nested in itself forty
times) is measured before it is built. Lists and dicts cannot be changed in place (`append`, `update`), so a
value measured once stays that size; `namespace` attributes can, so values are measured again where they are
written out. The deadline is checked at every loop iteration, call, filter and output write.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, NoReturn

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Call, Concat, Dict, EnvironmentAttribute, For, List, Tuple
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

from services.common.domain.notify.template_budget import Budget, Limits, OutputBuffer, OverBudget, counted
from services.common.domain.notify.template_sizes import (
    FILTER_SIZES,
    format_size,
    method_size,
    printf_size,
)

_UNSAFE_TEXT_METHODS = frozenset({"translate", "maketrans"})  # a table can map each character to a long string
_TEXT_TYPES = (str, bytes, list, tuple)
_PASSED = frozenset({"eval_ctx", "environment", "env", "context"})  # what filters call their first argument


_ACTIVE: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


class _CodeGenerator(CodeGenerator):
    """Jinja2's code generator, with loops, literals, `~` and buffers going through the environment's checks."""

    def visit_For(self, node: For, frame: Frame) -> None:
        iterated = Call(EnvironmentAttribute("iterate"), [node.iter], [], None, None, lineno=node.lineno)
        loop = For(node.target, iterated, node.body, node.else_, node.test, node.recursive, lineno=node.lineno)
        super().visit_For(loop, frame)

    def visit_List(self, node: List, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # a loop's or an assignment's target
            super().visit_Tuple(node, frame)
            return
        self.write("environment.built(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: Dict, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.joined(context.eval_ctx, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")


class BudgetedTemplate(jinja2.Template):
    """A template whose every render gets a fresh budget; it only renders whole (no streaming)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        environment = self.environment
        assert isinstance(environment, BudgetedEnvironment)
        token = _ACTIVE.set(Budget(environment.limits))
        try:
            return super().render(*args, **kwargs)
        finally:
            _ACTIVE.reset(token)

    def generate(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("budgeted templates render whole: call render()")


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox that keeps every render within `limits`."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _CodeGenerator
    template_class = BudgetedTemplate

    def __init__(self, limits: Limits, **options: Any) -> None:
        # No constant folding: it would run filters (`'x' | center(10**9)`) at compile time, outside any budget.
        super().__init__(optimized=False, **options)
        self.limits = limits
        self.finalize = self._written
        self.globals.pop("lipsum", None)  # lipsum(n) writes n paragraphs: nothing a message needs
        self.filters = {name: self._budgeted(name, func) for name, func in self.filters.items()}

    def active(self) -> Budget:
        """The running render's budget (a throwaway one while the compiler tries constants)."""
        return _ACTIVE.get() or Budget(self.limits)

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """A loop's iterable, counting each iteration against the budget."""
        return counted(iter(iterable), self.active())

    def built(self, value: Any) -> Any:
        """A list, tuple or dict literal, refused when too large (by nesting what it holds)."""
        budget = self.active()
        budget.value(budget.size(value))
        return value

    def joined(self, eval_ctx: Any, parts: tuple[Any, ...]) -> str:
        """`a ~ b`, measured before it is joined."""
        budget = self.active()
        budget.tick()
        budget.value(sum(budget.size(part) for part in parts))
        return markup_join(parts) if eval_ctx.autoescape else str_join(parts)

    def output_buffer(self) -> list[str]:
        """A new buffer for a macro, block or `{% set %}` body."""
        return OutputBuffer(self.active())

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Join output (the whole text, or a buffer), refusing more than the output limit as it comes."""
        budget, size, written = self.active(), 0, []
        for part in parts:
            size += len(part)
            budget.output(size)
            budget.tick()
            written.append(part)
        return "".join(written)

    def _written(self, value: Any) -> Any:
        budget = self.active()
        budget.tick()
        budget.output(budget.size(value))
        return value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str | bytes) and attr in _UNSAFE_TEXT_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: jinja2.runtime.Context, operator_name: str, left: Any, right: Any) -> Any:
        budget = self.active()
        budget.tick()
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64 and isinstance(left, int) and abs(left) > 1:
                raise SecurityError("exponent too large")
        elif operator_name == "*":
            return self._repeat(budget, left, right)
        elif operator_name == "+" and isinstance(left, _TEXT_TYPES) and isinstance(right, _TEXT_TYPES):
            return self._add(budget, left, right)
        elif operator_name == "%" and isinstance(left, str | bytes):
            budget.value(printf_size(left, right, self.limits.value))
        return self.binop_table[operator_name](left, right)

    def _add(self, budget: Budget, left: Any, right: Any) -> Any:
        first, second = budget.measure(left), budget.measure(right)
        budget.value(first.size + second.size)
        result = left + right
        if not (first.changeable or second.changeable):  # a list's size is one for itself plus its items'
            budget.remember(result, first.size + second.size - 1, max(first.depth, second.depth))
        return result

    def _repeat(self, budget: Budget, left: Any, right: Any) -> Any:
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, _TEXT_TYPES) and isinstance(times, int) and not isinstance(times, bool):
                if len(sequence) * times > self.limits.sequence:
                    raise SecurityError(f"result longer than {self.limits.sequence}")
                sized = budget.measure(sequence)
                budget.value(sized.size * max(times, 0))
                result = sequence * times
                if not sized.changeable:
                    budget.remember(result, 1 + (sized.size - 1) * max(times, 0), sized.depth)
                return result
        return left * right

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = self.active()
        budget.tick()
        if isinstance(obj, LoopContext) and args:  # a recursive loop's `loop(children)`: more iterations
            args = (self.iterate(args[0]), *args[1:])
        args = self._check_method(budget, obj, args, kwargs)
        if budget.depth >= self.limits.depth:
            raise OverBudget(f"recursion deeper than {self.limits.depth}")
        budget.depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        budget.value(budget.size(result))
        return result

    def _check_method(self, budget: Budget, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if name == "join" and isinstance(owner, str | bytes) and args:
            args = (list(args[0]), *args[1:])  # measured whole, then joined
        size = method_size(owner, name, args, kwargs, self.limits.value)
        if size is not None:
            budget.value(size)
        return args

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"

        def measured(*args: Any, **kwargs: Any) -> str:
            values = [*args[:1]] if is_map else [*args, *kwargs.values()]
            self.active().value(format_size(text, values, self.limits.value))
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(measured, wrapped)

    def _budgeted(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """A filter that measures its input, any result it could blow up, and its result."""
        skip = 0 if _PassArg.from_obj(func) is None else 1  # eval_ctx or environment comes first
        signature = inspect.signature(func)
        # A filter made async-ready takes eval_ctx without its signature naming it (that is the plain function's).
        bind_from = skip if skip and next(iter(signature.parameters)) not in _PASSED else 0
        estimate = FILTER_SIZES.get(name)

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            budget = self.active()
            budget.tick()
            if len(args) > skip:
                if name == "join" and not isinstance(args[skip], list | tuple):
                    args = (*args[:skip], list(args[skip]), *args[skip + 1 :])  # measured whole, then joined
                budget.value(budget.size(args[skip]))
                if estimate is not None:
                    budget.value(_estimate(estimate, signature, args[bind_from:], kwargs, self.limits.value))
            result = func(*args, **kwargs)
            budget.value(budget.size(result))
            return result

        return checked


def _bound(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None  # the filter itself reports the bad arguments
    bound.apply_defaults()
    return dict(bound.arguments)


def _estimate(
    estimate: Callable[..., int],
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    limit: int,
) -> int:
    arguments = _bound(signature, args, kwargs)
    return 0 if arguments is None else estimate(arguments, limit)
