"""The account models as the coach imports them (they live in assist.accounts, shared with the store)."""

from assist.accounts import (
    Account,
    AccountError,
    Channel,
    ContactRecord,
    PromiseRecord,
    load_accounts,
    parse_account,
    stage_for,
)

__all__ = ["Account", "AccountError", "Channel", "ContactRecord", "PromiseRecord", "load_accounts", "parse_account",
           "stage_for"]
