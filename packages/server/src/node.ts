export {
  createNodeHandler,
  type NodeHandler,
  type NodeHandlerOptions,
} from "./handler.js";
export { type Listener, type ListenOptions, listen, type RequestListener } from "./listen.js";
