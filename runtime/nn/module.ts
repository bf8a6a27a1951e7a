import * as tf from "@tensorflow/tfjs-core";
import type { GraphModule } from "../../compiler/graph/types.js";

/**
 * One entry of a `peftc-graph/1` module list: the compiler's GraphModule type itself, so a runtime
 * tree fingerprints the same way as the graph it was planned from.
 */
export type ModuleDescription = GraphModule;

/**
 * Base class of the runtime's module tree, shaped like PyTorch's `nn.Module`: named children in
 * registration order, dotted names from `namedModules()`, variables owned per module.
 *
 * Subclasses set `typeName` to the PyTorch class name they stand for (`Linear`, `Embedding`,
 * `Conv1D`, ...), register children with `registerModule` and variables with `registerVariable`,
 * and implement `forward`.
 */
export abstract class Module {
  /** PyTorch class name, written to graphs and fingerprints. */
  abstract readonly typeName: string;
  /** Training mode: dropout is active only while it is true. Set with `train()` / `eval()`. */
  training = false;
  protected readonly childModules = new Map<string, Module>();
  protected readonly ownedVariables = new Map<string, tf.Variable>();

  abstract forward(x: tf.Tensor): tf.Tensor;

  /** Runs `forward` inside `tf.tidy`, so intermediate tensors are freed. */
  call(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forward(x));
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    if (name === "" || name.includes(".")) throw new Error(`invalid child name '${name}': it must be non-empty and contain no '.'`);
    this.childModules.set(name, module);
    return module;
  }

  protected registerVariable(name: string, variable: tf.Variable): tf.Variable {
    this.ownedVariables.set(name, variable);
    return variable;
  }

  /**
   * Swaps the variable registered as `name` for another one, and repoints the own field of the
   * same name (`this.weight`) when there is one.
   */
  replaceVariable(name: string, variable: tf.Variable): void {
    if (!this.ownedVariables.has(name)) throw new Error(`${this.typeName} has no variable named '${name}'`);
    this.ownedVariables.set(name, variable);
    const fields = this as unknown as Record<string, unknown>;
    if (name in fields) fields[name] = variable;
  }

  /** Direct children in registration order. */
  children(): Array<[string, Module]> {
    return [...this.childModules];
  }

  /** Variables this module owns directly (not its children's), by local name (`weight`, `bias`). */
  variables(): Array<[string, tf.Variable]> {
    return [...this.ownedVariables];
  }

  /**
   * Replaces the child `name` in place, keeping its position in the order. Own properties of this
   * module that point at the old child (`this.q_proj = this.registerModule(...)`) are repointed
   * too; references kept anywhere else, such as inside arrays, are not.
   */
  replaceChild(name: string, module: Module): void {
    const old = this.childModules.get(name);
    if (old === undefined) throw new Error(`no child named '${name}' in ${this.typeName}`);
    this.childModules.set(name, module);
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (fields[key] === old) fields[key] = module;
    }
  }

  child(name: string): Module {
    const found = this.childModules.get(name);
    if (found === undefined) throw new Error(`no child named '${name}' in ${this.typeName}`);
    return found;
  }

  /** Lists every module of the tree with its dotted name, the root first as `""`, like PyTorch's `named_modules()`. */
  namedModules(prefix = ""): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    const seen = new Set<Module>();
    const visit = (name: string, module: Module): void => {
      if (seen.has(module)) return;
      seen.add(module);
      out.push([name, module]);
      for (const [childName, childModule] of module.children()) {
        visit(name === "" ? childName : `${name}.${childName}`, childModule);
      }
    };
    visit(prefix, this);
    return out;
  }

  /** Lists every variable of the tree with its dotted name. A variable shared by two modules is listed once. */
  namedVariables(): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    const seen = new Set<tf.Variable>();
    for (const [moduleName, module] of this.namedModules()) {
      for (const [localName, variable] of module.variables()) {
        if (seen.has(variable)) continue;
        seen.add(variable);
        out.push([moduleName === "" ? localName : `${moduleName}.${localName}`, variable]);
      }
    }
    return out;
  }

  /** Finds the module at a dotted path (`""` is this module), or returns `undefined`. */
  findModule(path: string): Module | undefined {
    if (path === "") return this;
    let current: Module | undefined = this;
    for (const part of path.split(".")) {
      current = current.children().find(([name]) => name === part)?.[1];
      if (current === undefined) return undefined;
    }
    return current;
  }

  /** Finds the parent of the module at `path` and the child's last name segment. */
  parentOf(path: string): { parent: Module; name: string } | undefined {
    const dot = path.lastIndexOf(".");
    const parent = this.findModule(dot < 0 ? "" : path.slice(0, dot));
    return parent === undefined ? undefined : { parent, name: path.slice(dot + 1) };
  }

  /** Type and shape fields for the graph; subclasses with shapes extend it. */
  describe(): Omit<ModuleDescription, "name"> {
    let parameters = 0;
    for (const [, variable] of this.variables()) parameters += variable.size;
    return { type: this.typeName, parameters };
  }

  /** Sets training mode on the whole tree. */
  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Disposes every variable of the tree. */
  dispose(): void {
    for (const [, variable] of this.namedVariables()) variable.dispose();
  }
}

/** A container with no computation of its own: PyTorch's plain `nn.Module` used as a namespace. */
export class Container extends Module {
  readonly typeName: string;

  constructor(children: Record<string, Module> = {}, typeName = "Module") {
    super();
    this.typeName = typeName;
    for (const [name, module] of Object.entries(children)) this.registerModule(name, module);
  }

  add<M extends Module>(name: string, module: M): M {
    return this.registerModule(name, module);
  }

  forward(_x: tf.Tensor): tf.Tensor {
    throw new Error(`${this.typeName} is a container and has no forward; call its children`);
  }
}

/** PyTorch's `nn.ModuleList`: children named `0`, `1`, ... */
export class ModuleList extends Module {
  readonly typeName: string = "ModuleList";

  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m) => this.append(m));
  }

  append(module: Module): void {
    this.registerModule(String(this.childModules.size), module);
  }

  get length(): number {
    return this.childModules.size;
  }

  at(index: number): Module {
    return this.child(String(index));
  }

  forward(_x: tf.Tensor): tf.Tensor {
    throw new Error(`${this.typeName} has no forward; call its items`);
  }
}

/** PyTorch's `nn.Sequential`: children `0`, `1`, ... applied in order. */
export class Sequential extends ModuleList {
  override readonly typeName: string = "Sequential";

  override forward(x: tf.Tensor): tf.Tensor {
    let out = x;
    for (const [, module] of this.children()) out = module.forward(out);
    return out;
  }
}
