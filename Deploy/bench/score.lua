-- wrk script: POST one payments event per request to /v1/score, cards varying.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    local body = string.format('{"event_id":"w-%d","event_time":%d,"card_id":"c-%06d","merchant_id":"m-%05d","amount":%d.5,"currency":"USD","country":"US","mcc":5411,"channel":"web"}',
        n, 1795390000000 + n, n % 100000, n % 2000, n % 900)
    return wrk.format(nil, "/v1/score", nil, body)
end
