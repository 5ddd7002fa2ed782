// The package entry point: everything public lives in src/index.js.
export * from "./src/index.js";
