/**
 * Finding the handler classes in a module namespace: {@link findHandlers}.
 *
 * A pure function over the namespace object (what `import()` resolves to), so
 * that the Node harness and the engine-side loader of the bridge find the same
 * handlers. Engine-neutral: no Node APIs.
 *
 * Rules, for each of the six interfaces:
 *
 * 1. By name (the LetsData layout): a named export whose name is the interface
 *    name (`export class SingleFileParser {...}`); when the module has no such
 *    named export at all, the properties of the default export object
 *    (`export default { SingleFileParser: MyParser }`, or a CommonJS
 *    `module.exports = { SingleFileParser }`) are used instead. A value found
 *    by name must be a class; the SDK base class itself is ignored.
 * 2. By inheritance (the ferry layout): every exported class, under any export
 *    name (the default export included), that extends one of the SDK base
 *    classes, directly or through classes of its own. Base classes are
 *    recognised by a registered symbol, so this works when the handler imports
 *    another copy of the SDK than the caller.
 *
 * When several distinct classes are found for one interface and one derives
 * from the others, the most derived one wins; two unrelated classes are an
 * error (HandlerLoadError).
 */

import { HandlerLoadError } from "./errors.js";
import { INTERFACE_MARK, INTERFACE_NAMES } from "./interfaces.js";

const INTERFACE_SET = new Set(INTERFACE_NAMES);

function isClass(value) {
  return typeof value === "function" && value.prototype !== undefined;
}

/** The interface name of an SDK base class, or null. */
function baseInterfaceOf(cls) {
  return Object.prototype.hasOwnProperty.call(cls, INTERFACE_MARK) ? cls[INTERFACE_MARK] : null;
}

/** The interface a class inherits from an SDK base class, or null (also for a base class itself). */
export function inheritedInterface(cls) {
  if (!isClass(cls) || baseInterfaceOf(cls) !== null) return null;
  const name = cls[INTERFACE_MARK];
  return typeof name === "string" && INTERFACE_SET.has(name) ? name : null;
}

function exportEntries(namespace) {
  const out = [];
  for (const key of Object.keys(namespace)) {
    let value;
    try {
      value = namespace[key];
    } catch (_) {
      continue; // an uninitialised binding of a cyclic import
    }
    out.push([key, value]);
  }
  return out;
}

function describe(cls) {
  return (cls && cls.name) || "<anonymous class>";
}

/**
 * Map interface name -> handler class, in INTERFACE_NAMES order, for the module
 * namespace `moduleNamespace` (see the rules at the top of this module). An
 * empty Map when there is none. `source` (e.g. the file name) only prefixes
 * error messages.
 *
 * Throws HandlerLoadError when a value exported under an interface name is not
 * a class, or when two unrelated classes implement the same interface.
 */
export function findHandlers(moduleNamespace, source) {
  if (moduleNamespace === null || (typeof moduleNamespace !== "object" && typeof moduleNamespace !== "function")) {
    throw new TypeError("findHandlers expects a module namespace object");
  }
  const where = source ? String(source) : "the module";
  const entries = exportEntries(moduleNamespace);
  const candidates = new Map(); // interface -> [class]
  const add = (name, cls) => {
    const list = candidates.get(name);
    if (list === undefined) candidates.set(name, [cls]);
    else if (!list.includes(cls)) list.push(cls);
  };

  // 1. by name
  let named = entries.filter(([key]) => INTERFACE_SET.has(key));
  let label = "export";
  if (named.length === 0) {
    const def = entries.find(([key]) => key === "default");
    const obj = def && def[1];
    if (obj !== null && typeof obj === "object") {
      named = exportEntries(obj).filter(([key]) => INTERFACE_SET.has(key));
      label = "default export property";
    }
  }
  for (const [key, value] of named) {
    if (isClass(value) && baseInterfaceOf(value) !== null) continue; // the SDK base class re-exported
    if (!isClass(value)) {
      throw new HandlerLoadError(
        `${where}: ${label} ${key} is not a class (it is ${value === null ? "null" : typeof value}); ` +
          `export the handler class itself`,
        { path: source ? String(source) : null },
      );
    }
    add(key, value);
  }

  // 2. by inheritance
  for (const [, value] of entries) {
    const name = inheritedInterface(value);
    if (name !== null) add(name, value);
  }

  const chosen = new Map();
  for (const name of INTERFACE_NAMES) {
    const found = candidates.get(name);
    if (!found) continue;
    const leaves = found.filter((c) => !found.some((o) => o !== c && Object.prototype.isPrototypeOf.call(c, o)));
    if (leaves.length > 1) {
      const listed = leaves.map(describe).join(" and ");
      throw new HandlerLoadError(
        `${where} defines more than one ${name} handler class: ${listed}; keep exactly one`,
        { path: source ? String(source) : null },
      );
    }
    chosen.set(name, leaves[0]);
  }
  return chosen;
}
