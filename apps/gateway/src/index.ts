export const APP_NAME = "evt-gateway";
