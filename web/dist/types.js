// The JSON shapes of the engine's HTTP API (/api/v1): snake_case fields,
// RFC 3339 times as strings, money as integer minor units beside an ISO
// 4217 currency. Errors are RFC 9457 problem bodies. A status word this
// page does not know (the server may say "unspecified") is shown as is.
export {};
