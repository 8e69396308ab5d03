#ifndef OSPREY_CKAFKA_H
#define OSPREY_CKAFKA_H

// librdkafka, plus the one call Swift cannot make itself: rd_kafka_producev is
// variadic and rd_kafka_vu_t holds an anonymous union.
#include <librdkafka/rdkafka.h>

/// Enqueues one message to `topic`, a handle from rd_kafka_topic_new on `rk`
/// (key, value and headers are copied; `headers`, when not NULL, is owned by
/// librdkafka on success and by the caller on error).
rd_kafka_resp_err_t ckafka_produce(rd_kafka_t *rk, rd_kafka_topic_t *topic, int32_t partition,
                                   const void *key, size_t key_len,
                                   const void *value, size_t value_len,
                                   rd_kafka_headers_t *headers);

#endif
