// replaced by the policy sources
