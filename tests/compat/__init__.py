"""The real zep-python 1.x SDK and LangChain's Zep classes against a chatmem server process."""
