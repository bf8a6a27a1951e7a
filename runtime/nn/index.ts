export { Container, Module, ModuleList, Sequential, type ModuleDescription } from "./module.js";
export { Conv1D, Embedding, LayerNorm, Linear, RMSNorm, lookupRows, type LayerOptions } from "./layers.js";
