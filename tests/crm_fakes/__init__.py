"""Local aiohttp servers speaking the documented APIs of the CRMs assist.sync delivers to."""
