#include "batch_engine.h"

#include <algorithm>

namespace hearth {

model_engine::model_engine(const model& m, const model_engine_options& o, std::shared_ptr<thread_pool> pool)
    : model_(m),
      context_length_(o.context_length > 0 ? std::min(o.context_length, m.hp().n_ctx_train) : m.hp().n_ctx_train),
      pool_(pool ? std::move(pool) : std::make_shared<thread_pool>(o.threads)),
      kv_(m.hp(), o.kv_blocks, o.block_size, o.kv_type),
      max_logit_rows_(o.max_logit_rows),
      pooling_(o.pooling ? *o.pooling
                         : pooling_from_gguf(m.file().get_int(m.hp().arch_name + ".pooling_type").value_or(0))
                               .value_or(pooling_type::none)),
      fwd_(m, *pool_, o.max_batch, o.max_logit_rows, context_length_) {}

}  // namespace hearth
