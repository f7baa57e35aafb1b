export const DEFAULT_CONFIG = '/etc/lvsd/services.json';
export const DEFAULT_SOCKET = '/run/lvsd/lvsd.sock';
