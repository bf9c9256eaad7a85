export type { SendResponse, StoredEvent } from "./wire";

/** Version-free marker of this package, replaced as the package grows. */
export const PACKAGE_NAME = "@evt/schema";
